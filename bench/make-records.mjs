// Writes N FIT Field-shaped changes as JSON lines, for trying the peer by
// hand (the benchmark's real records come from crates/fit-bench):
//   node bench/make-records.mjs N > records.jsonl
import { randomUUID } from 'node:crypto';

const n = Number(process.argv[2] ?? 1000);
const devices = Array.from({ length: 10 }, () => randomUUID());
const t0 = 1795392000000;
const out = [];
for (let i = 0; i < n; i++) {
  const wall = t0 + i * 1000;
  // A UUIDv7-like id: the time first, so ids sort by creation like the real ones.
  const hex = wall.toString(16).padStart(12, '0');
  const id = `${hex.slice(0, 8)}-${hex.slice(8)}-7${randomUUID().slice(15)}`;
  out.push(
    JSON.stringify({
      id,
      device: devices[i % devices.length],
      seq: Math.floor(i / devices.length) + 1,
      hlc: { wall_ms: wall, counter: 0 },
      device_time_ms: wall,
      schema_version: 1,
      body: {
        type: 'response_recorded',
        response: randomUUID(),
        visit: randomUUID(),
        citizen: randomUUID(),
        scale: 'ors',
        scale_version: 'short-labels-1',
        answered: {
          given: {
            marked_by: 'citizen_on_device',
            answers: [
              { item: 'individually', value: 53 },
              { item: 'interpersonally', value: 61 },
              { item: 'socially', value: 48 },
              { item: 'overall', value: 57 },
            ],
          },
        },
        recorded_at_ms: wall,
        supersedes: null,
      },
    }),
  );
}
process.stdout.write(out.join('\n') + '\n');
