import { randomUUID } from "node:crypto";
import { adminToken, codeOf, startStack, token, type Stack } from "../../../test/harness.ts";
import { createProduct, line, ORDER, orderInput, PLACE_ORDER } from "../../../test/orders.ts";

// Reading orders through the router: who may see an order, and paging through one's own.
let stack: Stack;
let admin: string;
beforeAll(async () => {
  stack = await startStack();
  admin = await adminToken();
});
afterAll(() => stack.close());

const place = (user: string, input: unknown) => stack.gql(PLACE_ORDER, { input }, { token: user });

describe("reading orders", () => {
  test("order(id): the owner and admins see it, anyone else is FORBIDDEN, unknown is null, malformed is BAD_USER_INPUT", async () => {
    const product = await createProduct(stack.gql, admin, 5, { name: "Poster" });
    const owner = await token(`u-${randomUUID()}`);
    const placed = (await place(owner, orderInput([line(product, 1)]))).data!.placeOrder;
    const query = `query($id: ID!) { order(id: $id) { id status items { product { name } } } }`;
    expect((await stack.gql(query, { id: placed.id }, { token: owner })).data!.order).toEqual({
      id: placed.id,
      status: "RESERVED",
      items: [{ product: { name: "Poster" } }],
    });
    expect((await stack.gql(query, { id: placed.id }, { token: admin })).data!.order.id).toBe(placed.id);
    expect(codeOf(await stack.gql(query, { id: placed.id }, { token: await token(`u-${randomUUID()}`) }))).toBe("FORBIDDEN");
    expect(codeOf(await stack.gql(query, { id: placed.id }))).toBe("UNAUTHENTICATED");
    expect((await stack.gql(ORDER, { id: randomUUID() }, { token: owner })).data!.order).toBeNull();
    const malformed = await stack.gql(ORDER, { id: "nope" }, { token: owner });
    expect(malformed.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "id" });
  });

  test("myOrders pages through the caller's own orders, newest first", async () => {
    const product = await createProduct(stack.gql, admin, 10);
    const user = await token(`u-${randomUUID()}`);
    const placed: string[] = [];
    for (let i = 0; i < 3; i++) placed.push((await place(user, orderInput([line(product, 1)]))).data!.placeOrder.id);
    await place(await token(`u-${randomUUID()}`), orderInput([line(product, 1)]));
    const page = `query($after: String) { myOrders(first: 2, after: $after) { nodes { id } edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`;
    const first = (await stack.gql(page, {}, { token: user })).data!.myOrders;
    expect(first.nodes.map((n: any) => n.id)).toEqual([placed[2], placed[1]]);
    expect(first.pageInfo).toEqual({ hasNextPage: true, endCursor: first.edges[1].cursor });
    const second = (await stack.gql(page, { after: first.pageInfo.endCursor }, { token: user })).data!.myOrders;
    expect(second.nodes.map((n: any) => n.id)).toEqual([placed[0]]);
    expect(second.pageInfo.hasNextPage).toBe(false);
    expect(codeOf(await stack.gql(page, { after: "garbage" }, { token: user }))).toBe("BAD_USER_INPUT");
  });
});
