/**
 * High-confidence patterns for secrets Gatehouse was never told about.
 *
 * Each rule is translated by hand from gitleaks' default rule set (gitleaks/gitleaks,
 * `config/gitleaks.toml` at commit 009e025a, MIT licence); `source` names the rule it comes from.
 * The translation changes Go RE2 syntax to JavaScript: inline `(?i)` becomes explicit character
 * classes, unbounded repeats get an upper bound (so a scan window and the stream's hold-back have a
 * known size), and gitleaks' trailing delimiter group becomes a lookahead. Rules that gitleaks marks
 * by a nearby word only (`twitter ... = <32 chars>`) are left out: they are the noisy ones.
 * Four rules are ours (`aws-secret-access-key`, `gcp-service-account-key`, `url-password`,
 * `generic-secret-assignment`); the generic one is off unless asked for, because entropy rules are
 * the main source of false alarms.
 */

/** One pattern rule. */
export interface PatternRule {
  /** Stable id, shown in the marker `{{redacted:<id>}}` and in findings. */
  readonly id: string;
  readonly description: string;
  /** Lowercase ASCII words, one of which must appear (case-insensitively) for the regex to run. */
  readonly keywords: readonly string[];
  /** The regex, without flags `g` and `d` (added when compiled). */
  readonly regex: RegExp;
  /** Capture group holding the secret; 0 (the whole match) when omitted. */
  readonly group?: number;
  /** Longest text a match can span; bounds the scan window and the stream's hold-back. */
  readonly maxLength: number;
  /** Minimum Shannon entropy (bits per character) of the secret; lower is ignored as a placeholder. */
  readonly entropy?: number;
  /** A secret matching this is a documented example, not a credential. */
  readonly allow?: RegExp;
  /** Off unless switched on (`scrub.genericEntropy`). */
  readonly generic?: boolean;
  /** Where the rule comes from. */
  readonly source: string;
}

const GITLEAKS = "gitleaks config/gitleaks.toml@009e025a";
/** gitleaks' end-of-token delimiter, as a lookahead: a quote, backtick, space, `;`, an escaped `\n`/`\r`, or the end. */
const END = String.raw`(?=[\x60'"\s;,)\]}<>]|\\[nr]|$)`;

function re(source: string, flags = ""): RegExp {
  return new RegExp(source, flags);
}

/** The recommended rule set (generic rules included, but off by default). */
export const DEFAULT_RULES: readonly PatternRule[] = [
  // Cloud keys
  {
    id: "aws-access-token",
    description: "AWS access key id",
    keywords: ["a3t", "akia", "asia", "abia", "acca"],
    regex: re(String.raw`\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b`),
    group: 1,
    maxLength: 20,
    entropy: 3,
    allow: /EXAMPLE$/,
    source: `${GITLEAKS} aws-access-token`,
  },
  {
    id: "aws-secret-access-key",
    description: "AWS secret access key assigned to an aws_secret_access_key-like name",
    keywords: ["secret_access_key", "secretaccesskey", "secret-access-key"],
    regex: re(
      String.raw`(?:aws)?_?(?:secret)[_-]?(?:access)[_-]?(?:key)["']?\s{0,5}(?:=|:|=>)\s{0,5}["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])`,
      "i",
    ),
    group: 1,
    maxLength: 100,
    entropy: 3.5,
    source: "ours (after secretlint-rule-aws, AWSSecretAccessKey)",
  },
  {
    id: "gcp-api-key",
    description: "Google Cloud API key",
    keywords: ["aiza"],
    regex: re(String.raw`\b(AIza[\w-]{35})${END}`),
    group: 1,
    maxLength: 40,
    entropy: 4,
    source: `${GITLEAKS} gcp-api-key`,
  },
  {
    id: "gcp-service-account-key",
    description: "private key inside a Google service-account JSON file",
    keywords: ["private_key_id"],
    regex: re(String.raw`"private_key_id"\s*:\s*"([a-f0-9]{40})"`),
    group: 1,
    maxLength: 80,
    source: "ours (Google service-account key file format)",
  },
  {
    id: "hashicorp-vault-service-token",
    description: "HashiCorp Vault service token",
    keywords: ["hvs."],
    regex: re(String.raw`\b(hvs\.[\w-]{90,120})${END}`),
    group: 1,
    maxLength: 125,
    entropy: 3.5,
    source: `${GITLEAKS} vault-service-token`,
  },
  {
    id: "hashicorp-vault-batch-token",
    description: "HashiCorp Vault batch token",
    keywords: ["hvb."],
    regex: re(String.raw`\b(hvb\.[\w-]{138,300})${END}`),
    group: 1,
    maxLength: 305,
    entropy: 4,
    source: `${GITLEAKS} vault-batch-token`,
  },
  {
    id: "hashicorp-tf-api-token",
    description: "Terraform Cloud / Enterprise API token",
    keywords: ["atlasv1"],
    regex: re(String.raw`[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9\-_=]{60,70}`),
    maxLength: 100,
    entropy: 3.5,
    source: `${GITLEAKS} hashicorp-tf-api-token`,
  },
  {
    id: "digitalocean-token",
    description: "DigitalOcean personal access, OAuth or refresh token",
    keywords: ["dop_v1_", "doo_v1_", "dor_v1_"],
    regex: re(String.raw`\b(do[opr]_v1_[a-f0-9]{64})${END}`),
    group: 1,
    maxLength: 71,
    entropy: 3,
    source: `${GITLEAKS} digitalocean-pat, digitalocean-access-token, digitalocean-refresh-token`,
  },
  {
    id: "heroku-api-key-v2",
    description: "Heroku API key",
    keywords: ["hrku-aa"],
    regex: re(String.raw`\b(HRKU-AA[0-9a-zA-Z_-]{58})${END}`),
    group: 1,
    maxLength: 65,
    entropy: 4,
    source: `${GITLEAKS} heroku-api-key-v2`,
  },
  {
    id: "databricks-api-token",
    description: "Databricks API token",
    keywords: ["dapi"],
    regex: re(String.raw`\b(dapi[a-f0-9]{32}(?:-\d)?)${END}`),
    group: 1,
    maxLength: 38,
    entropy: 3,
    source: `${GITLEAKS} databricks-api-token`,
  },
  {
    id: "pulumi-api-token",
    description: "Pulumi access token",
    keywords: ["pul-"],
    regex: re(String.raw`\b(pul-[a-f0-9]{40})${END}`),
    group: 1,
    maxLength: 44,
    entropy: 2,
    source: `${GITLEAKS} pulumi-api-token`,
  },
  {
    id: "doppler-api-token",
    description: "Doppler API token",
    keywords: ["dp.pt."],
    regex: re(String.raw`dp\.pt\.[A-Za-z0-9]{43}`),
    maxLength: 49,
    entropy: 2,
    source: `${GITLEAKS} doppler-api-token`,
  },
  {
    id: "planetscale-token",
    description: "PlanetScale API token, OAuth token or password",
    keywords: ["pscale_tkn_", "pscale_oauth_", "pscale_pw_"],
    regex: re(String.raw`\b(pscale_(?:tkn|oauth|pw)_[\w=.-]{32,64})${END}`),
    group: 1,
    maxLength: 80,
    entropy: 3,
    source: `${GITLEAKS} planetscale-api-token, planetscale-oauth-token, planetscale-password`,
  },
  // Git hosting and package registries
  {
    id: "github-pat",
    description: "GitHub personal access token (classic)",
    keywords: ["ghp_"],
    regex: re(String.raw`ghp_[0-9a-zA-Z]{36}`),
    maxLength: 40,
    entropy: 3,
    source: `${GITLEAKS} github-pat`,
  },
  {
    id: "github-fine-grained-pat",
    description: "GitHub fine-grained personal access token",
    keywords: ["github_pat_"],
    regex: re(String.raw`github_pat_\w{82}`),
    maxLength: 93,
    entropy: 3,
    source: `${GITLEAKS} github-fine-grained-pat`,
  },
  {
    id: "github-oauth",
    description: "GitHub OAuth access token",
    keywords: ["gho_"],
    regex: re(String.raw`gho_[0-9a-zA-Z]{36}`),
    maxLength: 40,
    entropy: 3,
    source: `${GITLEAKS} github-oauth`,
  },
  {
    id: "github-app-token",
    description: "GitHub App user-to-server or server-to-server token",
    keywords: ["ghu_", "ghs_"],
    regex: re(String.raw`(?:ghu|ghs)_[0-9a-zA-Z]{36}`),
    maxLength: 40,
    entropy: 3,
    source: `${GITLEAKS} github-app-token`,
  },
  {
    id: "github-refresh-token",
    description: "GitHub refresh token",
    keywords: ["ghr_"],
    regex: re(String.raw`ghr_[0-9a-zA-Z]{36}`),
    maxLength: 40,
    entropy: 3,
    source: `${GITLEAKS} github-refresh-token`,
  },
  {
    id: "gitlab-pat",
    description: "GitLab personal access token",
    keywords: ["glpat-"],
    regex: re(String.raw`glpat-[\w-]{20}`),
    maxLength: 26,
    entropy: 3,
    source: `${GITLEAKS} gitlab-pat`,
  },
  {
    id: "gitlab-pat-routable",
    description: "GitLab personal access token (routable)",
    keywords: ["glpat-"],
    regex: re(String.raw`\bglpat-[0-9a-zA-Z_-]{27,300}\.[0-9a-z]{2}[0-9a-z]{7}\b`),
    maxLength: 320,
    entropy: 4,
    source: `${GITLEAKS} gitlab-pat-routable`,
  },
  {
    id: "gitlab-token",
    description: "GitLab deploy, feed, runner, pipeline-trigger, SCIM or OAuth-app token",
    keywords: ["gldt-", "glft-", "glrt-", "glsoat-", "glffct-", "glcbt-", "glimt-", "glagent-", "gloas-", "glptt-"],
    regex: re(
      String.raw`(?:gldt-[0-9a-zA-Z_-]{20}|glft-[0-9a-zA-Z_-]{20}|glrt-[0-9a-zA-Z_-]{20}|glsoat-[0-9a-zA-Z_-]{20}|glffct-[0-9a-zA-Z_-]{20}|glcbt-[0-9a-zA-Z]{1,5}_[0-9a-zA-Z_-]{20}|glimt-[0-9a-zA-Z_-]{25}|glagent-[0-9a-zA-Z_-]{50}|gloas-[0-9a-zA-Z_-]{64}|glptt-[0-9a-f]{40})`,
    ),
    maxLength: 72,
    entropy: 3,
    source: `${GITLEAKS} gitlab-deploy-token, gitlab-feed-token, gitlab-runner-authentication-token, gitlab-scim-token, gitlab-feature-flag-client-token, gitlab-cicd-job-token, gitlab-incoming-mail-token, gitlab-kubernetes-agent-token, gitlab-oauth-app-secret, gitlab-ptt`,
  },
  {
    id: "gitlab-runner-registration-token",
    description: "GitLab runner registration token",
    keywords: ["gr1348941"],
    regex: re(String.raw`GR1348941[\w-]{20}`),
    maxLength: 29,
    entropy: 3,
    source: `${GITLEAKS} gitlab-rrt`,
  },
  {
    id: "npm-access-token",
    description: "npm access token",
    keywords: ["npm_"],
    regex: re(String.raw`\b(npm_[A-Za-z0-9]{36})${END}`),
    group: 1,
    maxLength: 40,
    entropy: 2,
    source: `${GITLEAKS} npm-access-token`,
  },
  {
    id: "pypi-upload-token",
    description: "PyPI upload token",
    keywords: ["pypi-ageichlwas5vcmc"],
    regex: re(String.raw`pypi-AgEIcHlwaS5vcmc[\w-]{50,1000}`),
    maxLength: 1020,
    entropy: 3,
    source: `${GITLEAKS} pypi-upload-token`,
  },
  {
    id: "rubygems-api-token",
    description: "RubyGems API token",
    keywords: ["rubygems_"],
    regex: re(String.raw`\b(rubygems_[a-f0-9]{48})${END}`),
    group: 1,
    maxLength: 57,
    entropy: 2,
    source: `${GITLEAKS} rubygems-api-token`,
  },
  // Chat
  {
    id: "slack-bot-token",
    description: "Slack bot token",
    keywords: ["xoxb"],
    regex: re(String.raw`xoxb-[0-9]{8,14}-(?:[0-9]{10,13}[a-zA-Z0-9-]{0,100}|[a-zA-Z0-9]{18,26})`),
    maxLength: 135,
    entropy: 2,
    source: `${GITLEAKS} slack-bot-token, slack-legacy-bot-token`,
  },
  {
    id: "slack-user-token",
    description: "Slack user token",
    keywords: ["xoxp-", "xoxe-"],
    regex: re(String.raw`xox[pe](?:-[0-9]{10,13}){3}-[a-zA-Z0-9-]{28,34}`),
    maxLength: 80,
    entropy: 2,
    source: `${GITLEAKS} slack-user-token`,
  },
  {
    id: "slack-app-token",
    description: "Slack app-level token",
    keywords: ["xapp"],
    regex: re(String.raw`xapp-\d-[A-Z0-9]{1,50}-\d{1,20}-[a-z0-9]{1,100}`, "i"),
    maxLength: 180,
    entropy: 2,
    source: `${GITLEAKS} slack-app-token`,
  },
  {
    id: "slack-config-token",
    description: "Slack configuration access or refresh token",
    keywords: ["xoxe.xoxb-", "xoxe.xoxp-", "xoxe-"],
    regex: re(String.raw`xoxe(?:\.xox[bp]-\d-[A-Z0-9]{163,166}|-\d-[A-Z0-9]{146})`, "i"),
    maxLength: 180,
    entropy: 2,
    source: `${GITLEAKS} slack-config-access-token, slack-config-refresh-token`,
  },
  {
    id: "slack-legacy-token",
    description: "Slack legacy or workspace token",
    keywords: ["xoxo", "xoxs", "xoxa", "xoxr"],
    regex: re(String.raw`xox[os]-\d{1,20}-\d{1,20}-\d{1,20}-[a-fA-F\d]{1,100}|xox[ar]-(?:\d-)?[0-9a-zA-Z]{8,48}`),
    maxLength: 170,
    entropy: 2,
    source: `${GITLEAKS} slack-legacy-token, slack-legacy-workspace-token`,
  },
  {
    id: "slack-webhook-url",
    description: "Slack incoming webhook URL",
    keywords: ["hooks.slack.com"],
    regex: re(String.raw`(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}`),
    maxLength: 90,
    source: `${GITLEAKS} slack-webhook-url`,
  },
  {
    id: "microsoft-teams-webhook",
    description: "Microsoft Teams incoming webhook URL",
    keywords: ["webhook.office.com"],
    regex: re(
      String.raw`https://[a-z0-9]+\.webhook\.office\.com/webhookb2/[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}@[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}/IncomingWebhook/[a-z0-9]{32}/[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}`,
    ),
    maxLength: 260,
    source: `${GITLEAKS} microsoft-teams-webhook`,
  },
  // Payments and commerce
  {
    id: "stripe-access-token",
    description: "Stripe secret or restricted key",
    keywords: ["sk_test", "sk_live", "sk_prod", "rk_test", "rk_live", "rk_prod"],
    regex: re(String.raw`\b((?:sk|rk)_(?:test|live|prod)_[a-zA-Z0-9]{10,99})${END}`),
    group: 1,
    maxLength: 108,
    entropy: 2,
    source: `${GITLEAKS} stripe-access-token`,
  },
  {
    id: "shopify-token",
    description: "Shopify access token or shared secret",
    keywords: ["shpat_", "shpca_", "shppa_", "shpss_"],
    regex: re(String.raw`shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}`),
    maxLength: 38,
    entropy: 2,
    source: `${GITLEAKS} shopify-access-token, shopify-custom-access-token, shopify-private-app-access-token, shopify-shared-secret`,
  },
  {
    id: "sendgrid-api-token",
    description: "SendGrid API key",
    keywords: ["sg."],
    regex: re(String.raw`\b(SG\.[a-zA-Z0-9=_\-.]{66})${END}`),
    group: 1,
    maxLength: 69,
    entropy: 2,
    source: `${GITLEAKS} sendgrid-api-token`,
  },
  {
    id: "postman-api-token",
    description: "Postman API key",
    keywords: ["pmak-"],
    regex: re(String.raw`\b(PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34})${END}`),
    group: 1,
    maxLength: 64,
    entropy: 3,
    source: `${GITLEAKS} postman-api-token`,
  },
  {
    id: "linear-api-key",
    description: "Linear API key",
    keywords: ["lin_api_"],
    regex: re(String.raw`lin_api_[a-zA-Z0-9]{40}`),
    maxLength: 48,
    entropy: 2,
    source: `${GITLEAKS} linear-api-key`,
  },
  {
    id: "sentry-user-token",
    description: "Sentry user auth token",
    keywords: ["sntryu_"],
    regex: re(String.raw`\b(sntryu_[a-f0-9]{64})${END}`),
    group: 1,
    maxLength: 71,
    entropy: 3.5,
    source: `${GITLEAKS} sentry-user-token`,
  },
  {
    id: "grafana-token",
    description: "Grafana service-account or cloud API token",
    keywords: ["glsa_", "glc_"],
    regex: re(String.raw`\b(glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,400}={0,3})${END}`),
    group: 1,
    maxLength: 410,
    entropy: 3,
    source: `${GITLEAKS} grafana-service-account-token, grafana-cloud-api-token`,
  },
  {
    id: "age-secret-key",
    description: "age encryption secret key",
    keywords: ["age-secret-key-1"],
    regex: re(String.raw`AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}`),
    maxLength: 74,
    source: `${GITLEAKS} age-secret-key`,
  },
  // Model providers
  {
    id: "openai-api-key",
    description: "OpenAI API key",
    keywords: ["t3blbkfj"],
    regex: re(
      String.raw`\b(sk-(?:proj|svcacct|admin)-(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})T3BlbkFJ(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})\b|sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20})${END}`,
    ),
    group: 1,
    maxLength: 180,
    entropy: 3,
    source: `${GITLEAKS} openai-api-key`,
  },
  {
    id: "anthropic-api-key",
    description: "Anthropic API or admin key",
    keywords: ["sk-ant-api03", "sk-ant-admin01"],
    regex: re(String.raw`\b(sk-ant-(?:api03|admin01)-[a-zA-Z0-9_-]{93}AA)${END}`),
    group: 1,
    maxLength: 112,
    source: `${GITLEAKS} anthropic-api-key, anthropic-admin-api-key`,
  },
  {
    id: "huggingface-access-token",
    description: "Hugging Face access or organization token",
    keywords: ["hf_", "api_org_"],
    regex: re(String.raw`\b((?:hf|api_org)_[a-zA-Z]{34})${END}`),
    group: 1,
    maxLength: 42,
    entropy: 2,
    source: `${GITLEAKS} huggingface-access-token, huggingface-organization-api-token`,
  },
  {
    id: "perplexity-api-key",
    description: "Perplexity API key",
    keywords: ["pplx-"],
    regex: re(String.raw`\b(pplx-[a-zA-Z0-9]{48})\b`),
    group: 1,
    maxLength: 53,
    entropy: 4,
    source: `${GITLEAKS} perplexity-api-key`,
  },
  // Keys, tokens and connection strings
  {
    id: "private-key",
    description: "private key in PEM form (also when cut off before its END line)",
    keywords: ["-----begin"],
    regex: re(
      String.raw`-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]{16,8192}?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|(?:\\[nr]|[A-Za-z0-9+/=\s:,-]){16,8192})`,
    ),
    maxLength: 8500,
    source: `${GITLEAKS} private-key (extended: an unterminated key body is redacted too)`,
  },
  {
    id: "jwt",
    description: "JSON Web Token",
    keywords: ["eyj"],
    regex: re(String.raw`\b(eyJ[a-zA-Z0-9_-]{14,4000}\.eyJ[a-zA-Z0-9_-]{14,4000}\.(?:[a-zA-Z0-9_-]{10,4000}={0,2})?)${END}`),
    group: 1,
    maxLength: 12010,
    entropy: 3,
    source: `${GITLEAKS} jwt (keyword narrowed from \`ey\` to \`eyj\`: a header that is JSON starts \`{"\`)`,
  },
  {
    id: "url-password",
    description: "password in the user-info part of a URL or connection string",
    keywords: ["://"],
    regex: re(String.raw`\b[a-zA-Z][a-zA-Z0-9+.-]{1,30}://[^\s:/?#@'"\x60<>\\]{1,256}:([^\s/?#@'"\x60<>\\]{1,256})@[^\s/?#@'"\x60<>\\]{1,256}`),
    group: 1,
    maxLength: 800,
    // Placeholders, not passwords: `${VAR}`, `$VAR`, `***`, `xxx`, `<password>`, `%s`, `TOKEN`, `RUN_TOKEN`.
    allow: /^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\*+|x+|X+|<[^>]*>|%s|[Pp]assword|[Pp]ass|[Ss]ecret|[Cc]hangeme|[A-Z][A-Z_]+)$/,
    source: "ours (after secretlint-rule-database-connection-string and secretlint-rule-basicauth)",
  },
  {
    id: "generic-secret-assignment",
    description: "high-entropy value assigned to a key, token, secret or password name",
    keywords: ["key", "token", "secret", "passw", "credential"],
    regex: re(
      String.raw`(?:key|token|secret|passw(?:or)?d|credentials?)[\w.-]{0,20}["']?\s{0,5}(?:=|:|=>)\s{0,5}["']?([A-Za-z0-9_+/=.-]{16,150})${END}`,
      "i",
    ),
    group: 1,
    maxLength: 200,
    entropy: 4,
    generic: true,
    source: `ours (after ${GITLEAKS} generic-api-key)`,
  },
];
