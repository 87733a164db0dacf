import { useState } from "react";
import { useQuery } from "@apollo/client/react";
import { graphql } from "../gql";
import type { CatalogueProductFragment } from "../gql/graphql";
import { Link } from "../route.tsx";
import { money } from "../format.ts";
import { Available } from "../components/Stock.tsx";
import { useLiveStock } from "../components/useLiveStock.ts";

const PAGE_SIZE = 12;

graphql(`
  fragment CatalogueProduct on Product {
    id
    name
    priceCents
    currency
    stock {
      productId
      available
    }
  }
`);
const PRODUCTS = graphql(`
  query Catalogue($first: Int!, $after: String) {
    products(first: $first, after: $after) {
      nodes {
        ...CatalogueProduct
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);
const SEARCH = graphql(`
  query Search($query: String!, $first: Int!) {
    searchProducts(query: $query, first: $first) {
      ...CatalogueProduct
    }
  }
`);

/** `/`: the catalogue, a page at a time, or search results; every count live. */
export function Catalogue() {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [query, setQuery] = useState("");
  const searching = query.trim().length > 0;
  const list = useQuery(PRODUCTS, { variables: { first: PAGE_SIZE, after: cursors.at(-1) ?? null }, skip: searching });
  const search = useQuery(SEARCH, { variables: { query: query.trim(), first: PAGE_SIZE }, skip: !searching });
  const products = (searching ? search.data?.searchProducts : list.data?.products.nodes) ?? [];
  const pageInfo = list.data?.products.pageInfo;
  useLiveStock(products.map((p) => p.id));

  return (
    <section aria-labelledby="catalogue-title">
      <h1 id="catalogue-title">Catalogue</h1>
      <label className="search">
        <span className="visually-hidden">Search products</span>
        <input type="search" data-testid="search" placeholder="Search products" value={query} onChange={(e) => setQuery(e.target.value)} />
      </label>
      {(list.error ?? search.error) && <p role="alert">The catalogue cannot be loaded right now.</p>}
      <ul className="grid" aria-busy={list.loading || search.loading}>
        {products.map((product) => (
          <ProductCard key={product.id} product={product} />
        ))}
      </ul>
      {searching && search.data && products.length === 0 && <p className="muted">Nothing matches “{query}”.</p>}
      {!searching && (
        <nav className="pager" aria-label="Pages">
          <button type="button" className="secondary" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
            Previous
          </button>
          <span className="muted">Page {cursors.length}</span>
          <button
            type="button"
            data-testid="next-page"
            className="secondary"
            disabled={!pageInfo?.hasNextPage}
            onClick={() => pageInfo?.endCursor && setCursors([...cursors, pageInfo.endCursor])}
          >
            Next
          </button>
        </nav>
      )}
    </section>
  );
}

function ProductCard({ product }: { product: CatalogueProductFragment }) {
  return (
    <li className="card" data-testid={`product-${product.id}`}>
      <Link href={`/products/${product.id}`}>{product.name}</Link>
      <span className="price">{money(product.priceCents, product.currency)}</span>
      <Available count={product.stock.available} />
    </li>
  );
}
