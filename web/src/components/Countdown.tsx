import { useEffect, useState } from "react";
import { clock } from "../format.ts";

/** The time left until `until`, ticking each second; `done` once it has passed. */
export function Countdown({ until, done = "00:00", testId }: { until: string; done?: string; testId?: string }) {
  const target = Date.parse(until);
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, []);
  return (
    <span className="count" data-testid={testId}>
      {target > now ? clock(target - now) : done}
    </span>
  );
}
