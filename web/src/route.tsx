import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

// A few lines of history-API routing: the storefront has four pages, so a router library would be most of its code.
const subscribe = (listener: () => void) => (addEventListener("popstate", listener), () => removeEventListener("popstate", listener));

export const usePath = () => useSyncExternalStore(subscribe, () => location.pathname);

export function navigate(to: string): void {
  history.pushState(null, "", to);
  dispatchEvent(new PopStateEvent("popstate"));
  scrollTo(0, 0);
}

export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const follow = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={follow} {...rest} />;
}
