import { config, connectTestInfra, gql, logger, uniqueSku, type Infra } from "../../../test/harness.ts";
import { createPrisma } from "../../../common/prisma.ts";
import { createProductService } from "../src/server.ts";
import { createProductStore } from "../src/products.ts";

let infra: Infra;
beforeAll(async () => {
  infra = await connectTestInfra();
});
afterAll(() => infra.close());

test("resolving 100 product references is one database query", async () => {
  const store = createProductStore(infra.prisma);
  const ids: string[] = [];
  for (let i = 0; i < 100; i++) {
    ids.push(
      (await store.create({ sku: uniqueSku("ENT"), name: `Entity ${i}`, description: "", priceCents: i, currency: "USD", initialStock: 0 })).id,
    );
  }
  const queries: string[] = [];
  const prisma = createPrisma(config.DATABASE_URL, { onQuery: (sql) => queries.push(sql) });
  const service = await createProductService({ prisma, logger, internalSecret: config.INTERNAL_SECRET });
  const port = await service.listen(0, "127.0.0.1");
  try {
    const res = await gql(
      `http://127.0.0.1:${port}/graphql`,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id name priceCents } } }`,
      { r: ids.map((id) => ({ __typename: "Product", id })) },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!._entities.map((p: any) => p.id)).toEqual(ids);
    expect(queries.filter((q) => /\bproducts\b/.test(q))).toHaveLength(1);
  } finally {
    await service.close();
    await prisma.$disconnect();
  }
});
