import { parseArgs } from "node:util";
import { loadConfig } from "../common/config.ts";
import { signClientToken } from "../common/identity.ts";

const { values } = parseArgs({
  options: { sub: { type: "string" }, admin: { type: "boolean", default: false }, expires: { type: "string", default: "12h" } },
});
if (!values.sub) {
  console.error("usage: npm run token -- --sub <user-id> [--admin] [--expires 12h]");
  process.exit(2);
}
const config = loadConfig();
console.log(await signClientToken(config.JWT_SECRET, values.sub, values.admin ? ["admin"] : [], values.expires));
