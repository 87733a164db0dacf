import { createRequire } from "node:module";
import { expect, test } from "@jest/globals";

// patches/kafkajs+2.2.4.patch rewrites the varint writers of kafkajs's protocol encoder (a Buffer per varint
// and Long arithmetic for every record's timestamp delta were a good part of a produce request's CPU). Every
// record of every produce request goes through them, so they must write exactly Kafka's bytes.
const require = createRequire(import.meta.url);
const Encoder = require("kafkajs/src/protocol/encoder.js");
const Decoder = require("kafkajs/src/protocol/decoder.js");

/** Kafka's varint / varlong, from the protocol's definition: zigzag, then 7 bits a byte, low group first. */
function reference(value: bigint, bits: 32n | 64n): string {
  let zigzag = BigInt.asUintN(Number(bits), (value << 1n) ^ (value >> (bits - 1n)));
  const bytes: number[] = [];
  do {
    const low = Number(zigzag & 0x7fn);
    zigzag >>= 7n;
    bytes.push(zigzag ? low | 0x80 : low);
  } while (zigzag);
  return Buffer.from(bytes).toString("hex");
}

const edges = [
  0,
  1,
  -1,
  2,
  -2,
  63,
  -64,
  64,
  -65,
  127,
  128,
  300,
  -300,
  8191,
  -8192,
  0x3fffffff,
  -0x40000000,
  0x40000000,
  -0x40000001,
  2 ** 31 - 1,
  -(2 ** 31),
];
let seed = 7;
const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5;
const int = (x: number) => Math.trunc(x) || 0; // never -0
const int32s = [...edges, ...Array.from({ length: 2_000 }, () => int(random() * 2 ** (1 + ((Math.abs(random()) * 62) % 31))))];
const safe = [
  ...int32s,
  2 ** 31,
  2 ** 40,
  -(2 ** 40),
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  ...Array.from({ length: 2_000 }, () => int(random() * 2 ** 53)),
];

test("varints are Kafka's bytes, and the decoder reads them back", () => {
  for (const value of int32s) {
    const bytes = new Encoder().writeVarInt(value).buffer as Buffer;
    expect(bytes.toString("hex")).toBe(reference(BigInt(value), 32n));
    expect(Encoder.sizeOfVarInt(value)).toBe(bytes.length);
    expect(new Decoder(bytes).readVarInt()).toBe(value);
  }
});

test("varlongs are Kafka's bytes, for small and large numbers and for Longs", () => {
  for (const value of safe) {
    const bytes = new Encoder().writeVarLong(value).buffer as Buffer;
    expect(bytes.toString("hex")).toBe(reference(BigInt(value), 64n));
    expect(Encoder.sizeOfVarLong(value)).toBe(bytes.length);
    expect(new Decoder(bytes).readVarLong().toString()).toBe(String(value));
  }
  const Long = require("kafkajs/src/utils/long.js");
  expect(new Encoder().writeVarLong(Long.fromString("-123456789012345")).buffer.toString("hex")).toBe(reference(-123456789012345n, 64n));
});

test("an encoder hands out only the bytes written, across growth", () => {
  const encoder = new Encoder(4);
  const expected: string[] = [];
  for (let i = 0; i < 500; i++) {
    encoder
      .writeVarInt(i * 37 - 5000)
      .writeInt32(i)
      .writeVarIntString(`record-${i}`);
    expected.push(
      reference(BigInt(i * 37 - 5000), 32n),
      (i >>> 0).toString(16).padStart(8, "0"),
      reference(BigInt(`record-${i}`.length), 32n),
      Buffer.from(`record-${i}`).toString("hex"),
    );
  }
  expect((encoder.buffer as Buffer).toString("hex")).toBe(expected.join(""));
});
