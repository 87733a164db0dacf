import { useEffect, useState } from "react";
import { ApolloProvider } from "@apollo/client/react";
import { createConnection, type Connection } from "./apollo.ts";
import { useToken } from "./session.ts";
import { Link, usePath } from "./route.tsx";
import { ConnectionBadge } from "./components/ConnectionBadge.tsx";
import { SignIn } from "./components/SignIn.tsx";
import { Catalogue } from "./pages/Catalogue.tsx";
import { ProductPage } from "./pages/ProductPage.tsx";
import { FlashSalePage } from "./pages/FlashSalePage.tsx";
import { OrdersPage } from "./pages/OrdersPage.tsx";

export interface StorefrontConfig {
  /** The router's URL (served by the storefront's server as /config.json). */
  graphqlUrl: string;
  /** Whether the "Sign in as" box may ask the storefront's server for a development token. */
  devSignIn: boolean;
}

function Page({ path }: { path: string }) {
  const [, section, id] = path.split("/");
  if (section === "products" && id) return <ProductPage key={id} id={decodeURIComponent(id)} />;
  if (section === "flash-sales" && id) return <FlashSalePage key={id} id={decodeURIComponent(id)} />;
  if (section === "orders" && !id) return <OrdersPage />;
  if (path === "/") return <Catalogue />;
  return <p role="alert">Page not found.</p>;
}

export function App({ config }: { config: StorefrontConfig }) {
  const token = useToken();
  const path = usePath();
  // A new identity gets a new client: a fresh cache (no one else's orders) and a socket authorised as it.
  // Made in an effect, so the one that is disposed is always the one that was made for it.
  const [connection, setConnection] = useState<Connection | null>(null);
  useEffect(() => {
    const made = createConnection(config.graphqlUrl, token);
    setConnection(made);
    return () => made.dispose();
  }, [config.graphqlUrl, token]);
  if (!connection) return null;

  return (
    <ApolloProvider client={connection.client}>
      <header className="top">
        <nav aria-label="Main">
          <Link href="/" className="brand">
            flashgraph
          </Link>
          <Link href="/orders">Orders</Link>
        </nav>
        <ConnectionBadge connection={connection} />
        <SignIn token={token} devSignInAvailable={config.devSignIn} />
      </header>
      <main>
        <Page path={path} />
      </main>
    </ApolloProvider>
  );
}
