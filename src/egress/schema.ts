// The `egress:` section's schema is owned by the policy (src/policy/sections/egress.ts, like the
// other sections); re-exported here so the egress module's names keep working.
export { egressPolicySchema, egressProfileSchema, egressAllowEntrySchema, egressCredentialSchema, egressBudgetSchema } from "../policy/index.js";
export type { EgressPolicy, EgressProfile, EgressAllowEntry, EgressCredential, EgressBudget } from "../policy/index.js";
