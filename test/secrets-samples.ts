/**
 * Test material for the secrets tests: random credentials in each vendor's format, built at run
 * time from pieces so that no file of this repository holds anything that looks like a real
 * token (secret scanners, push protection, and our own clean-corpus test read these files).
 */
import { generateKeyPairSync, randomBytes, randomInt } from "node:crypto";
import { SignJWT } from "jose";

export const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
export const LOWER = "abcdefghijklmnopqrstuvwxyz";
export const DIGITS = "0123456789";
export const ALNUM = UPPER + LOWER + DIGITS;
export const HEX = "0123456789abcdef";

/** `n` random characters from `alphabet`. */
export function rnd(alphabet: string, n: number): string {
  let out = "";
  for (let i = 0; i < n; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

const j = (...parts: string[]): string => parts.join("");

/** One credential per rule id, embedded the way it usually appears; `secret` is the part that must go. */
export interface RuleSample {
  readonly rule: string;
  readonly text: string;
  readonly secret: string;
}

function sample(rule: string, secret: string, before = "value: ", after = "\n"): RuleSample {
  return { rule, text: `${before}${secret}${after}`, secret };
}

/** Fresh samples for every built-in rule (generic included). */
export async function ruleSamples(): Promise<RuleSample[]> {
  const pem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const jwt = await new SignJWT({ scope: "read" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(rnd(LOWER, 12))
    .setExpirationTime("5m")
    .sign(randomBytes(32));
  const uuid = (): string => [8, 4, 4, 4, 12].map((n) => rnd("abcdef0123456789", n)).join("-");
  const urlPassword = rnd(ALNUM, 20);
  return [
    sample("aws-access-token", j("AK", "IA", rnd("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)), "aws_access_key_id = "),
    { rule: "aws-secret-access-key", ...(() => { const s = rnd(ALNUM + "/+", 40); return { text: `aws_secret_access_key = ${s}\n`, secret: s }; })() },
    sample("gcp-api-key", j("AI", "za", rnd(ALNUM + "_-", 35)), 'key="', '"'),
    { rule: "gcp-service-account-key", ...(() => { const s = rnd(HEX, 40); return { text: `{"type": "service_account", "private_key_id": "${s}"}`, secret: s }; })() },
    sample("hashicorp-vault-service-token", j("hv", "s.", rnd(ALNUM + "_-", 94), "Q")),
    sample("hashicorp-vault-batch-token", j("hv", "b.", rnd(ALNUM + "_-", 150), "Q")),
    sample("hashicorp-tf-api-token", j(rnd(ALNUM, 14), ".atlas", "v1.", rnd(ALNUM + "-_", 65))),
    sample("digitalocean-token", j("do", "p_v1_", rnd(HEX, 64))),
    sample("heroku-api-key-v2", j("HRKU", "-AA", rnd(ALNUM + "_-", 57), "Q")),
    sample("databricks-api-token", j("da", "pi", rnd(HEX, 32))),
    sample("pulumi-api-token", j("pu", "l-", rnd(HEX, 40))),
    sample("doppler-api-token", j("dp.", "pt.", rnd(ALNUM, 43))),
    sample("planetscale-token", j("pscale", "_tkn_", rnd(ALNUM, 43))),
    sample("github-pat", j("gh", "p_", rnd(ALNUM, 36))),
    sample("github-fine-grained-pat", j("github", "_pat_", rnd(ALNUM + "_", 82))),
    sample("github-oauth", j("gh", "o_", rnd(ALNUM, 36))),
    sample("github-app-token", j("gh", "s_", rnd(ALNUM, 36))),
    sample("github-refresh-token", j("gh", "r_", rnd(ALNUM, 36))),
    sample("gitlab-pat", j("gl", "pat-", rnd(ALNUM, 20))),
    sample("gitlab-pat-routable", j("gl", "pat-", rnd(ALNUM, 30), ".", rnd(LOWER + DIGITS, 9))),
    sample("gitlab-token", j("gl", "ptt-", rnd(HEX, 40))),
    sample("gitlab-runner-registration-token", j("GR13", "48941", rnd(ALNUM, 20))),
    sample("npm-access-token", j("np", "m_", rnd(ALNUM, 36))),
    sample("pypi-upload-token", j("pypi-", "AgEIcHlwaS5vcmc", rnd(ALNUM + "_-", 70))),
    sample("rubygems-api-token", j("ruby", "gems_", rnd(HEX, 48))),
    sample("slack-bot-token", j("xo", "xb-", rnd(DIGITS, 11), "-", rnd(DIGITS, 12), "-", rnd(ALNUM, 24))),
    sample("slack-user-token", j("xo", "xp-", rnd(DIGITS, 11), "-", rnd(DIGITS, 11), "-", rnd(DIGITS, 12), "-", rnd(ALNUM, 32))),
    sample("slack-app-token", j("xa", "pp-1-", rnd(UPPER + DIGITS, 11), "-", rnd(DIGITS, 13), "-", rnd(LOWER + DIGITS, 64))),
    sample("slack-config-token", j("xo", "xe-1-", rnd(UPPER + DIGITS, 146))),
    sample("slack-legacy-token", j("xo", "xa-2-", rnd(ALNUM, 40))),
    sample("slack-webhook-url", j("https://hooks.", "slack.com/services/", rnd(ALNUM, 9), "/", rnd(ALNUM, 11), "/", rnd(ALNUM, 24))),
    sample(
      "microsoft-teams-webhook",
      j("https://acme.webhook.", "office.com/webhookb2/", uuid(), "@", uuid(), "/IncomingWebhook/", rnd(HEX, 32), "/", uuid()),
    ),
    sample("stripe-access-token", j("sk", "_live_", rnd(ALNUM, 24))),
    sample("shopify-token", j("sh", "pat_", rnd(HEX, 32))),
    sample("sendgrid-api-token", j("S", "G.", rnd(ALNUM + "_-", 22), ".", rnd(ALNUM + "_-", 43))),
    sample("postman-api-token", j("PM", "AK-", rnd(HEX, 24), "-", rnd(HEX, 34))),
    sample("linear-api-key", j("lin", "_api_", rnd(ALNUM, 40))),
    sample("sentry-user-token", j("sntr", "yu_", rnd(HEX, 64))),
    sample("grafana-token", j("gl", "sa_", rnd(ALNUM, 32), "_", rnd(HEX, 8))),
    sample("age-secret-key", j("AGE-SECRET", "-KEY-1", rnd("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58))),
    sample("openai-api-key", j("sk-", "proj-", rnd(ALNUM, 74), "T3Blbk", "FJ", rnd(ALNUM, 74))),
    sample("anthropic-api-key", j("sk-", "ant-", "api03-", rnd(ALNUM + "_-", 93), "AA")),
    sample("huggingface-access-token", j("h", "f_", rnd(UPPER + LOWER, 34))),
    sample("perplexity-api-key", j("pp", "lx-", rnd(ALNUM, 48))),
    sample("private-key", pem.trimEnd(), "key:\n", "\nend\n"),
    sample("jwt", jwt, "Authorization: Bearer "),
    { rule: "url-password", text: `DATABASE_URL=postgres://app:${urlPassword}@db.internal:5432/app\n`, secret: urlPassword },
    sample("generic-secret-assignment", rnd(ALNUM, 32), "api_token = "),
  ];
}
