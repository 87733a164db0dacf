import { clientAddressOf, invalidCidrs, normalizeAddress, parseCidrList } from "../client-address.ts";

const request = (peer: string | undefined, forwardedFor?: string | string[]) => ({
  socket: { remoteAddress: peer },
  headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor },
});

describe("parseCidrList", () => {
  test("matches IPv4 and IPv6 subnets, bare addresses, and IPv4-mapped IPv6 peers", () => {
    const list = parseCidrList(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8, ::1");
    expect(list.empty).toBe(false);
    expect(["10.1.2.3", "::ffff:10.200.0.1", "192.168.1.7", "fd12::5", "::1"].map((a) => list.has(a))).toEqual([true, true, true, true, true]);
    expect(["11.0.0.1", "192.168.1.8", "fe80::1", "::2", "not-an-ip", ""].map((a) => list.has(a))).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  test("an IPv4-mapped block covers the plain IPv4 addresses it names", () => {
    const list = parseCidrList("::ffff:127.0.0.0/104");
    expect([list.has("127.0.0.1"), list.has("::ffff:127.9.9.9"), list.has("128.0.0.1")]).toEqual([true, true, false]);
  });

  test("an empty list matches nothing", () => {
    const list = parseCidrList("");
    expect(list.empty).toBe(true);
    expect(list.has("127.0.0.1")).toBe(false);
  });

  test("names the entries that are not addresses or blocks", () => {
    expect(invalidCidrs("10.0.0.0/8, 10.0.0.0/33, ::1/129, localhost, 1.2.3.4/8/9, ::ffff:1.2.3.4/64")).toEqual([
      "10.0.0.0/33",
      "::1/129",
      "localhost",
      "1.2.3.4/8/9",
      "::ffff:1.2.3.4/64",
    ]);
    expect(() => parseCidrList("10.0.0.0/8,nope")).toThrow('not an IP address or CIDR block: "nope"');
  });
});

describe("clientAddressOf", () => {
  const none = parseCidrList("");
  const proxies = parseCidrList("10.0.0.0/8");

  test("is the socket's peer, IPv4-mapped spelled as IPv4, when no proxy is trusted", () => {
    expect(clientAddressOf(request("::ffff:127.0.0.1"), none)).toBe("127.0.0.1");
    expect(normalizeAddress("::1")).toBe("::1");
  });

  test("ignores X-Forwarded-For from a peer that is not a trusted proxy", () => {
    expect(clientAddressOf(request("203.0.113.9", "1.2.3.4"), none)).toBe("203.0.113.9");
    expect(clientAddressOf(request("203.0.113.9", "1.2.3.4"), proxies)).toBe("203.0.113.9");
  });

  test("behind trusted proxies, is the rightmost forwarded address that is not a proxy", () => {
    // The client wrote "6.6.6.6" itself; the first proxy appended the address it saw, the second proxy its peer.
    expect(clientAddressOf(request("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.1"), proxies)).toBe("198.51.100.7");
    expect(clientAddressOf(request("::ffff:10.0.0.2", ["6.6.6.6", "198.51.100.7:5123"]), proxies)).toBe("198.51.100.7");
    expect(clientAddressOf(request("10.0.0.2", "[2001:db8::1]:443"), proxies)).toBe("2001:db8::1");
  });

  test("stops at the last proxy when the forwarded chain is missing, garbage or all proxies", () => {
    expect(clientAddressOf(request("10.0.0.2"), proxies)).toBe("10.0.0.2");
    expect(clientAddressOf(request("10.0.0.2", "1.2.3.4, garbage"), proxies)).toBe("10.0.0.2");
    expect(clientAddressOf(request("10.0.0.2", "10.0.0.9, 10.0.0.1"), proxies)).toBe("10.0.0.9");
  });

  test("is 'unknown' once the socket has gone", () => {
    expect(clientAddressOf(request(undefined, "1.2.3.4"), proxies)).toBe("unknown");
  });
});
