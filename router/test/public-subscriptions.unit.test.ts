import { readFileSync } from "node:fs";
import { parse } from "graphql";
import { expect, test } from "@jest/globals";
import { createSubscriptionPlanner, type SubscriptionPlan } from "../src/subscriptions/planner.ts";
import { SUPERGRAPH_FILE } from "../../schema/compose.ts";

// Which subscriptions are shared across identities comes from the subgraphs' schemas (`@public`, composed into the
// committed supergraph with @composeDirective), not from a list in the router.
test("the planner marks stockChanged and flashSaleChanged public, orderStatusChanged not", () => {
  const planner = createSubscriptionPlanner(readFileSync(SUPERGRAPH_FILE, "utf8"));
  const isPublic = (source: string) => (planner.plan(parse(source), source) as SubscriptionPlan).isPublic;
  expect(isPublic(`subscription { stockChanged(productIds: ["1"]) { available } }`)).toBe(true);
  expect(isPublic(`subscription { flashSaleChanged(id: "1") { state } }`)).toBe(true);
  expect(isPublic(`subscription { orderStatusChanged(orderId: "1") { status } }`)).toBe(false);
  expect(readFileSync(SUPERGRAPH_FILE, "utf8")).toMatch(
    /stockChanged\(productIds: \[ID!\]!\): StockUpdate! @join__field\(graph: INVENTORY\) @public/,
  );
});
