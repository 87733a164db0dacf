/**
 * What `NODE_ENV=production` refuses to start with (docs/edge-protection.md, "Production checklist"): secrets
 * that are unset, the development defaults, short, or shared between two purposes, and no CORS origin list.
 * loadConfig checks it, so every process refuses before it connects to anything or listens.
 */

/** The secrets production checks, and what each one protects. */
const SECRETS = {
  JWT_SECRET: "client tokens",
  INTERNAL_SECRET: "identities the router forwards to subgraphs",
  PAYMENT_WEBHOOK_SECRET: "payment webhooks",
} as const;
type SecretName = keyof typeof SECRETS;

/** HS256 keys should be at least as long as the hash (RFC 7518 §3.2): 256 bits. */
export const MIN_SECRET_BYTES = 32;
/** Every development default secret in common/config.ts starts with this. */
const DEVELOPMENT_PREFIX = "dev-only-";

const blank = (value: string | undefined) => value === undefined || value.trim() === "";

/**
 * The problems of a production configuration, each naming its variable; empty when NODE_ENV is not
 * `production` or nothing is wrong. `env` is the raw environment, to tell an unset variable from its default.
 */
export function productionProblems(config: { NODE_ENV: string } & Record<SecretName, string>, env: NodeJS.ProcessEnv): string[] {
  if (config.NODE_ENV !== "production") return [];
  const problems: string[] = [];
  const names = Object.keys(SECRETS) as SecretName[];
  for (const name of names) {
    const value = config[name];
    if (blank(env[name])) problems.push(`${name} is unset (it signs ${SECRETS[name]})`);
    else if (value.startsWith(DEVELOPMENT_PREFIX)) problems.push(`${name} is the development default`);
    else if (Buffer.byteLength(value) < MIN_SECRET_BYTES) problems.push(`${name} is shorter than ${MIN_SECRET_BYTES} bytes`);
  }
  // One secret for two purposes lets whoever holds one forge the other (a webhook sender minting user tokens).
  names.forEach((a, i) =>
    names.slice(i + 1).forEach((b) => {
      if (!blank(env[a]) && config[a] === config[b]) problems.push(`${a} and ${b} are the same secret`);
    }),
  );
  if (blank(env.CORS_ORIGINS)) problems.push("CORS_ORIGINS is empty (production needs the list of browser origins)");
  return problems;
}
