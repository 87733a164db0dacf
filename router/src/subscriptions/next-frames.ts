/**
 * graphql-ws `next` messages as complete WebSocket frames, encoded once and written as they are to every
 * socket. A server's frames are unmasked (RFC 6455 §5.1), so one subscription id's frame for one result is
 * the same bytes for every client: a shared result costs one encoding and then one `write` per socket,
 * instead of `ws` building and corking a header and a payload for each (a two-buffer `writev`).
 */

/** An unmasked, final text frame (opcode 0x1) carrying `payload`. */
export function textFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN + text
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  payload.copy(frame, headerLength);
  return frame;
}

/**
 * The wire frame of the `next` message for a subscription id and payload. A shared result goes to every
 * socket in one loop, and clients number their subscriptions alike ("1", "2", ...), so the last encoding per
 * id serves most sockets.
 */
export function createNextFrames(maxIds = 1_000) {
  const last = new Map<string, { json: string; frame: Buffer }>();
  return function nextFrame(id: string, json: string): Buffer {
    const cached = last.get(id);
    if (cached?.json === json) return cached.frame;
    const frame = textFrame(Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":${json}}`));
    if (last.size >= maxIds) last.clear();
    last.set(id, { json, frame });
    return frame;
  };
}
