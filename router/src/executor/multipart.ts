/**
 * `@defer` over HTTP as Apollo Router serves it (Apollo's incremental delivery, `deferSpec=20220824`), which
 * Apollo Client 4 (`Defer20220824Handler`), Apollo iOS and Apollo Kotlin read: a client that sends
 * `Accept: multipart/mixed;deferSpec=20220824` gets `multipart/mixed;boundary="graphql";deferSpec=20220824`,
 * one JSON part per payload (`{data, errors?, hasNext: true}` first, then `{hasNext, incremental: [...]}`), the
 * last with `hasNext: false` and the closing boundary. Each write ends with the next delimiter, so a client's
 * parser hands the part on as soon as it arrives instead of waiting for the next one.
 */
import type http from "node:http";

export const DEFER_CONTENT_TYPE = 'multipart/mixed;boundary="graphql";deferSpec=20220824';

const DELIMITER = "\r\n--graphql";
const PART_HEADERS = "\r\ncontent-type: application/json\r\n\r\n";
const CLOSE = "--\r\n";

/** Whether `Accept` names `multipart/mixed` with `deferSpec=20220824` (Apollo Router's test: any range, any order). */
export function acceptsMultipartDefer(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(",").some((range) => {
    const [mediaType, ...params] = range.split(";").map((part) => part.trim());
    if (mediaType?.toLowerCase() !== "multipart/mixed") return false;
    return params.some((param) => {
      const equals = param.indexOf("=");
      if (equals < 0 || param.slice(0, equals).trim().toLowerCase() !== "deferspec") return false;
      return (
        param
          .slice(equals + 1)
          .trim()
          .replace(/^"(.*)"$/, "$1") === "20220824"
      );
    });
  });
}

/** An open multipart response: `write` sends one payload (its JSON text); the one with `hasNext: false` ends it. */
export interface MultipartWriter {
  write(json: string, hasNext: boolean): void;
  /** The client went away (or the response ended): nothing more is written, and what is left need not run. */
  readonly closed: boolean;
}

/** Starts the multipart response on `res` (status 200, the headers) and returns its writer. */
export function startMultipart(res: http.ServerResponse, headers: Record<string, string> = {}): MultipartWriter {
  let closed = false;
  res.on("close", () => void (closed = true));
  res.statusCode = 200;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader("content-type", DEFER_CONTENT_TYPE);
  res.setHeader("cache-control", "no-store");
  let first = true;
  return {
    write(json, hasNext) {
      if (closed || res.destroyed) return;
      const chunk = (first ? DELIMITER : "") + PART_HEADERS + json + DELIMITER + (hasNext ? "" : CLOSE);
      first = false;
      if (hasNext) {
        res.write(chunk);
      } else {
        closed = true;
        res.end(chunk);
      }
    },
    get closed() {
      return closed || res.destroyed;
    },
  };
}
