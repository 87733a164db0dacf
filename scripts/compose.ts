import { writeFileSync } from "node:fs";
import { composeSupergraph, SUPERGRAPH_FILE } from "../schema/compose.ts";

writeFileSync(SUPERGRAPH_FILE, composeSupergraph());
console.log(`Wrote ${SUPERGRAPH_FILE}`);
