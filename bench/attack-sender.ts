/**
 * `bench:attack`'s second load generator, a process of its own so its work never slows the normal traffic's
 * generator: on "start" it sends the attacks of bench/attacks.ts round robin at `rate` per second to the router
 * at `url`; on "stop" it waits for the ones in flight and sends their outcomes back.
 */
import { ATTACKS, attack, type AttackOutcome } from "./attacks.ts";

const [url, rate] = [process.argv[2]!, Number(process.argv[3] ?? 20)];
const names = Object.keys(ATTACKS);
let timer: NodeJS.Timeout | undefined;
let inFlight: Promise<AttackOutcome>[] = [];

process.on("message", (message: string) => {
  if (message === "start") {
    let next = 0;
    inFlight = [];
    timer = setInterval(() => inFlight.push(attack(names[next++ % names.length]!, url)), 1000 / rate);
  } else if (message === "stop") {
    clearInterval(timer);
    void Promise.all(inFlight).then((outcomes) => process.send!(outcomes));
  } else if (message === "exit") {
    process.exit(0);
  }
});
process.send!("ready");
