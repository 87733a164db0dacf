import { readFileSync } from "node:fs";
import { loadConfig } from "../config.ts";

test("the README documents every configuration variable", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const missing = Object.keys(loadConfig({})).filter((name) => !readme.includes(`\`${name}\``));
  expect(missing).toEqual([]);
});
