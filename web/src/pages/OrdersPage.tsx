import { useQuery } from "@apollo/client/react";
import { graphql } from "../gql";
import type { OrderFieldsFragment } from "../gql/graphql";
import { money } from "../format.ts";
import { apiError } from "../errors.ts";
import { useToken } from "../session.ts";
import { Link } from "../route.tsx";
import { useLiveOrder } from "../components/OrderPanel.tsx";

const MY_ORDERS = graphql(`
  query MyOrders($first: Int!) {
    myOrders(first: $first) {
      nodes {
        ...OrderFields
      }
    }
  }
`);

/** `/orders`: the signed-in user's latest orders, each live until it can no longer change. */
export function OrdersPage() {
  const token = useToken();
  const { data, error } = useQuery(MY_ORDERS, { variables: { first: 20 }, skip: !token, fetchPolicy: "cache-and-network" });
  if (!token) return <p>Sign in to see your orders.</p>;
  if (error) return <p role="alert">{apiError(error).message}</p>;
  const orders = data?.myOrders.nodes ?? [];
  return (
    <section aria-labelledby="orders-title">
      <h1 id="orders-title">Your orders</h1>
      {data && orders.length === 0 && <p className="muted">No orders yet.</p>}
      <ul className="orders">
        {orders.map((order) => (
          <OrderRow key={order.id} order={order} />
        ))}
      </ul>
    </section>
  );
}

function OrderRow({ order }: { order: OrderFieldsFragment }) {
  useLiveOrder(order.id, order.status);
  const first = order.items[0];
  return (
    <li className="card" data-testid={`order-${order.id}`}>
      <span>
        {first ? <Link href={`/products/${first.product.id}`}>{first.product.name}</Link> : "Order"}
        {order.items.length > 1 && ` and ${order.items.length - 1} more`}
      </span>
      <span className="muted">{new Date(order.createdAt).toLocaleString()}</span>
      <span className="price">{money(order.totalCents, order.currency)}</span>
      <span className={`status status-${order.status}`} data-testid="order-status">
        {order.status}
      </span>
    </li>
  );
}
