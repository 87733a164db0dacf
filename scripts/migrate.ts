import { loadConfig } from "../common/config.ts";
import { ensureDatabase, migrate } from "../common/migrate.ts";

const config = loadConfig();
await ensureDatabase(config.DATABASE_URL);
const applied = await migrate(config.DATABASE_URL);
console.log(applied.length ? `Applied migrations: ${applied.join(", ")}` : "Database is up to date.");
