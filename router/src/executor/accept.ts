/**
 * The response's content type as Apollo Server negotiates it from `Accept` (`chooseContentTypeForSingleResultResponse`,
 * on the `negotiator` package's rules): no header is JSON; otherwise the better of `application/json` and
 * `application/graphql-response+json` by quality, then specificity, then order in the header. Headers this
 * does not read the same way (media-type parameters, nothing acceptable) return undefined: the gateway answers.
 */
const JSON_TYPE = "application/json; charset=utf-8";
const GRAPHQL_RESPONSE_TYPE = "application/graphql-response+json; charset=utf-8";

interface Candidate {
  type: string;
  subtype: string;
  value: string;
}

const CANDIDATES: Candidate[] = [
  { type: "application", subtype: "json", value: JSON_TYPE },
  { type: "application", subtype: "graphql-response+json", value: GRAPHQL_RESPONSE_TYPE },
];

interface Range {
  type: string;
  subtype: string;
  q: number;
  order: number;
}

function parseRanges(accept: string): Range[] | undefined {
  const ranges: Range[] = [];
  const parts = accept.split(",");
  for (let order = 0; order < parts.length; order++) {
    const [mediaType, ...params] = parts[order]!.split(";").map((part) => part.trim());
    if (!mediaType) continue;
    const slash = mediaType.indexOf("/");
    if (slash <= 0) return undefined;
    let q = 1;
    for (const param of params) {
      const [key, value] = param.split("=").map((s) => s.trim().toLowerCase());
      if (key !== "q" || value === undefined) return undefined;
      q = Number(value);
      if (!Number.isFinite(q)) return undefined;
    }
    ranges.push({ type: mediaType.slice(0, slash).toLowerCase(), subtype: mediaType.slice(slash + 1).toLowerCase(), q, order });
  }
  return ranges;
}

export function negotiateContentType(accept: string | undefined): string | undefined {
  if (!accept) return JSON_TYPE;
  const ranges = parseRanges(accept);
  if (!ranges) return undefined;
  let best: { value: string; q: number; s: number; order: number; index: number } | undefined;
  CANDIDATES.forEach((candidate, index) => {
    let match: { q: number; s: number; order: number } | undefined;
    for (const range of ranges) {
      let s = 0;
      if (range.type === candidate.type) s |= 4;
      else if (range.type !== "*") continue;
      if (range.subtype === candidate.subtype) s |= 2;
      else if (range.subtype !== "*") continue;
      if (!match || s > match.s || (s === match.s && (range.q > match.q || (range.q === match.q && range.order > match.order))))
        match = { q: range.q, s, order: range.order };
    }
    if (!match || match.q <= 0) return;
    const better =
      !best ||
      match.q > best.q ||
      (match.q === best.q &&
        (match.s > best.s || (match.s === best.s && (match.order < best.order || (match.order === best.order && index < best.index)))));
    if (better) best = { value: candidate.value, ...match, index };
  });
  return best?.value;
}
