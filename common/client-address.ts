/**
 * Who a request comes from: the socket's peer, or, when that peer is a proxy we trust (`TRUSTED_PROXIES`), the
 * address that proxy recorded in `X-Forwarded-For`. Everything that limits per client address (the router's
 * token buckets, subscription socket caps, the flash-sale per-IP limit through `x-client-ip`) reads it here, so
 * a client cannot dodge a limit by sending a header of its own.
 */
import { BlockList, isIP } from "node:net";

/** A set of addresses given as a comma-separated CIDR list (`TRUSTED_PROXIES`, `RATE_LIMIT_EXEMPT`). */
export interface AddressList {
  /** True when `address` (IPv4, IPv6 or IPv4-mapped IPv6) falls in one of the list's subnets. */
  has(address: string): boolean;
  /** True for an empty list, so callers can skip the check entirely. */
  readonly empty: boolean;
}

const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * The canonical spelling of an address: IPv4-mapped IPv6 (`::ffff:127.0.0.1`, what a dual-stack socket reports
 * for an IPv4 peer) becomes plain IPv4, so one client is one bucket whichever way its socket was opened.
 */
export function normalizeAddress(address: string): string {
  return MAPPED_IPV4.exec(address)?.[1] ?? address;
}

/** `10.0.0.0/8`, `::1/128`, or a bare address (a /32 or /128); null when the entry is neither. */
function parseEntry(entry: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } | null {
  const [rawAddress = "", rawPrefix, ...rest] = entry.split("/");
  if (rest.length > 0 || (rawPrefix !== undefined && !/^\d{1,3}$/.test(rawPrefix))) return null;
  const address = normalizeAddress(rawAddress);
  const version = isIP(address);
  if (version === 0) return null;
  // `::ffff:10.0.0.0/104` names IPv4 10.0.0.0/8: the mapped prefix counts the 96 bits before the IPv4 part.
  const mapped = address !== rawAddress;
  const max = version === 6 || mapped ? 128 : 32;
  const prefix = rawPrefix === undefined ? max : Number(rawPrefix);
  if (prefix > max || (mapped && prefix < 96)) return null;
  return { address, prefix: mapped ? prefix - 96 : prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/** The entries of a comma-separated CIDR list that do not parse (empty when the list is valid). */
export function invalidCidrs(list: string): string[] {
  return splitList(list).filter((entry) => parseEntry(entry) === null);
}

function splitList(list: string): string[] {
  return list
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}

/** Builds the matcher of a comma-separated CIDR list; throws naming the first entry that is not one. */
export function parseCidrList(list: string): AddressList {
  const blocks = new BlockList();
  const entries = splitList(list);
  for (const entry of entries) {
    const parsed = parseEntry(entry);
    if (!parsed) throw new Error(`not an IP address or CIDR block: "${entry}"`);
    blocks.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return {
    empty: entries.length === 0,
    has(address) {
      const normalized = normalizeAddress(address);
      const version = isIP(normalized);
      return version !== 0 && blocks.check(normalized, version === 4 ? "ipv4" : "ipv6");
    },
  };
}

/** One `X-Forwarded-For` entry without a port or brackets (`[::1]:80`, `1.2.3.4:5678`); null when not an IP. */
function forwardedAddress(entry: string): string | null {
  let value = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed) value = bracketed[1]!;
  else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d+$/.test(value)) value = value.slice(0, value.lastIndexOf(":"));
  value = normalizeAddress(value);
  return isIP(value) === 0 ? null : value;
}

interface RequestLike {
  socket: { remoteAddress?: string | undefined };
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * The client address of a request. `X-Forwarded-For` counts only when the socket's peer is in `trustedProxies`;
 * then the entries are read from the right (each proxy appends the peer it saw) and the first one that is not
 * itself a trusted proxy is the client. Entries left of it were written by the client and are never believed.
 * An entry that is not an address ends the walk at the last proxy that forwarded it. "unknown" when the socket
 * has already closed.
 */
export function clientAddressOf(req: RequestLike, trustedProxies: AddressList): string {
  const peer = req.socket.remoteAddress;
  if (peer === undefined) return "unknown";
  let address = normalizeAddress(peer);
  if (trustedProxies.empty || !trustedProxies.has(address)) return address;
  const header = req.headers["x-forwarded-for"];
  const entries = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",");
  for (let i = entries.length - 1; i >= 0 && trustedProxies.has(address); i--) {
    const hop = forwardedAddress(entries[i]!);
    if (hop === null) break;
    address = hop;
  }
  return address;
}
