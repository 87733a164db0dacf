import { useSubscription } from "@apollo/client/react";
import { graphql } from "../gql";

const STOCK_FIELDS = graphql(`
  fragment LiveStock on Stock {
    productId
    available
    reserved
    sold
  }
`);
const STOCK_LIVE = graphql(`
  subscription StockLive($productIds: [ID!]!) {
    stockChanged(productIds: $productIds) {
      productId
      available
      reserved
      sold
    }
  }
`);

/**
 * Keeps the cached `Stock` of these products live: each stockChanged event (the first is the current value)
 * is written into the cache, so every `stock { available }` on the page re-renders without a reload.
 */
export function useLiveStock(productIds: string[]) {
  useSubscription(STOCK_LIVE, {
    variables: { productIds },
    skip: productIds.length === 0,
    onData: ({ client, data }) => {
      const update = data.data?.stockChanged;
      if (!update) return;
      const { productId, available, reserved, sold } = update;
      client.cache.writeFragment({
        id: client.cache.identify({ __typename: "Stock", productId }),
        fragment: STOCK_FIELDS,
        data: { productId, available, reserved, sold },
      });
    },
  });
}
