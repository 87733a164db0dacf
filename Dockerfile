# One image for every FlashGraph service: the four subgraphs, the router and the one-shot migrate job.
# docker-compose.yml picks the entry point per service (`npx tsx <entry>`); nothing is compiled ahead,
# so the image runs exactly the TypeScript that `npm start` runs.
FROM node:24-slim

# openssl: Prisma probes the system's libssl when it generates and loads its client;
# ca-certificates: TLS to managed PostgreSQL/Redis/Kafka when the URLs point at one.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, in their own layer, so a source change does not reinstall them.
# npm ci runs the package's postinstall (patch-package, then `prisma generate`), which needs patches/, the schema and prisma.config.ts.
# devDependencies stay: `prisma` (the generator) is one, and tsx runs the sources directly.
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
COPY patches ./patches
RUN npm ci --no-audit --no-fund && npm cache clean --force

COPY . .

# No root at run time; the sources only need to be readable.
USER node
ENV NODE_ENV=production
EXPOSE 4000 4001 4002 4003 4004
CMD ["npx", "tsx", "router/src/main.ts"]
