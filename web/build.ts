import { fileURLToPath } from "node:url";
import { build } from "vite";

const WEB_ROOT = fileURLToPath(new URL("./", import.meta.url));

/** Builds the storefront into web/dist (`vite build` with web/vite.config.ts). */
export async function buildStorefront(): Promise<void> {
  await build({ root: WEB_ROOT, configFile: `${WEB_ROOT}vite.config.ts`, logLevel: "warn" });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildStorefront();
