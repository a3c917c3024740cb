export { runDemo, DEMO_POLICY_PATH } from "./run.js";
export type { DemoOptions, DemoReport } from "./run.js";
export { createShopDatabase, previewSql } from "./shop.js";
export type { SqlPreview, ShopDatabase } from "./shop.js";
