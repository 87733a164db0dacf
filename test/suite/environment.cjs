// Jest's node environment, plus the resources one test file owns (test/suite/resources.ts): made before the
// file loads, put in the file's own `process.env`, released after the file ends. Unit tests (`*.unit.test.ts`)
// do no I/O and get none.
const { TestEnvironment } = require("jest-environment-node");
const { tsImport } = require("tsx/esm/api");

class SuiteEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.testPath = context.testPath;
  }

  async setup() {
    await super.setup();
    if (this.testPath.endsWith(".unit.test.ts")) return;
    const { createSuiteResources } = await tsImport("./resources.ts", __filename);
    this.resources = await createSuiteResources(process.env);
    Object.assign(this.global.process.env, this.resources.env);
  }

  async teardown() {
    try {
      await this.resources?.release();
    } finally {
      await super.teardown();
    }
  }
}

module.exports = SuiteEnvironment;
