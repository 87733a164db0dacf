import { defineConfig } from "prisma/config";

// Only the CLI reads this file (generate, and migrate on machines that have Prisma's schema engine);
// the services build their own connection from the validated config in common/config.ts.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/flashgraph" },
});
