import { createRequire } from "node:module";
import { createNextFrames, textFrame } from "../src/subscriptions/next-frames.ts";

// ws's own frame parser (untyped, exported for this kind of use) decides whether the bytes are a valid frame.
const { Receiver } = createRequire(import.meta.url)("ws") as { Receiver: new (options: { isServer: boolean }) => ReceiverLike };
interface ReceiverLike {
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  write(chunk: Buffer): void;
}

function decode(frame: Buffer): Promise<{ text: string; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const receiver = new Receiver({ isServer: false });
    receiver.on("message", (data, isBinary) => resolve({ text: data.toString(), isBinary }));
    receiver.on("error", reject);
    receiver.write(frame);
  });
}

test.each([0, 125, 126, 65_535, 65_536, 200_000])("a %i-byte payload is one unmasked text frame a client decodes back", async (length) => {
  const text = "x".repeat(length);
  const frame = textFrame(Buffer.from(text));
  expect(frame.length).toBe(length + (length < 126 ? 2 : length < 65_536 ? 4 : 10));
  await expect(decode(frame)).resolves.toEqual({ text, isBinary: false });
});

test("a next frame carries the subscription id and payload, and is encoded once per id and payload", async () => {
  const nextFrame = createNextFrames();
  const json = JSON.stringify({ data: { stockChanged: { available: 3 } } });
  const frame = nextFrame("1", json);
  expect(JSON.parse((await decode(frame)).text)).toEqual({ id: "1", type: "next", payload: { data: { stockChanged: { available: 3 } } } });
  expect(nextFrame("1", json)).toBe(frame);
  expect(JSON.parse((await decode(nextFrame("2", json))).text).id).toBe("2");
  expect(nextFrame("1", JSON.stringify({ data: null }))).not.toBe(frame);
});
