/**
 * What --help shows after the flags, as data: each command's examples (every
 * one parses: a test runs them through the parser), and where to start from
 * a symptom, for `tcptrace` alone and `tcptrace --help`.
 */

/** 2-4 real command lines per command, each with what it answers. */
export const EXAMPLES: Record<string, [command: string, what: string][]> = {
  live: [
    ['sudo tcptrace live', 'the view: sockets per state, transitions/s, busiest processes and peers'],
    ['sudo tcptrace live --events -P 8080', "one line per transition on port 8080 (bcc's tcpstates, with the right PID)"],
    ['sudo tcptrace live --json -s close-wait | head -20', 'transitions to or from CLOSE_WAIT, as JSON'],
  ],
  life: [
    ['sudo tcptrace life', "one line per connection that ends, like bcc's tcplife"],
    ['sudo tcptrace life -P 5432 -d 60', 'a minute of connections on port 5432: who closed first, bytes, lifetime'],
    ['sudo tcptrace life --json --record life.jsonl.gz', 'JSON, and a recording to report on later'],
  ],
  hist: [
    ['sudo tcptrace hist -d 10', 'connect, accept-queue wait, lifetime, CLOSE_WAIT, FIN_WAIT2 over 10 s'],
    ['sudo tcptrace hist -P 8080 --by pid -u ms', 'one histogram per process, in ms, for port 8080'],
    ['sudo tcptrace hist -i 5', 'print and reset every 5 s until Ctrl-C'],
  ],
  culprits: [
    ['sudo tcptrace culprits', 'who holds the CLOSE_WAIT sockets, per service and peer host, and why'],
    ['sudo tcptrace culprits -P 8080 --comm java', "only the java processes' sockets on port 8080"],
    ['sudo tcptrace culprits --watch --sort age', 'again every 2 s, the oldest leak first'],
    ['sudo tcptrace culprits --json | jq .culprits[0].groups', 'every group and socket, as JSON'],
  ],
  snapshot: [
    ['sudo tcptrace snapshot', 'sockets per state (as ss -tan counts), process, peer, port; port use'],
    ["sudo tcptrace snapshot state close-wait '( sport = :8080 )'", "ss's own filter words"],
    ['sudo tcptrace snapshot --by pid', 'every process and its sockets per state'],
  ],
  doctor: [
    ['sudo tcptrace doctor', '5 s observed: TIME_WAIT, CLOSE_WAIT and listen-queue findings, what to do'],
    ['sudo tcptrace doctor -d 30 --json', 'thirty seconds, as JSON'],
  ],
  record: [
    ['sudo tcptrace record -o trace.jsonl.gz -d 60', 'a minute of everything, to report on later or elsewhere'],
    ['sudo tcptrace record -o - -P 443 | gzip > t.jsonl.gz', 'to stdout'],
  ],
  serve: [
    ['sudo tcptrace serve', 'Prometheus metrics at http://127.0.0.1:9466/metrics'],
    ['sudo tcptrace serve -l 0.0.0.0:9466 --interval 15', 'on every address, gauges every 15 s'],
  ],
  report: [
    ['tcptrace report trace.jsonl.gz', 'the summary of a recording'],
    ['tcptrace report trace.jsonl.gz culprits --top 10', 'the CLOSE_WAIT culprits at its end'],
    ['tcptrace report trace.jsonl.gz --html -o report.html', 'one self-contained page, charts included'],
  ],
  export: [
    ['tcptrace export trace.jsonl.gz -o trace.json', 'for ui.perfetto.dev: a track per process and connection'],
    ['tcptrace export trace.jsonl.gz -o - | gzip > trace.json.gz', 'to stdout'],
  ],
};

/** From what an operator sees to the command that answers it. */
export const SYMPTOMS: [symptom: string, command: string][] = [
  ['many sockets in CLOSE_WAIT', 'sudo tcptrace culprits'],
  ['many sockets in TIME_WAIT, or connect() fails', 'sudo tcptrace doctor'],
  ['what the host is doing now', 'sudo tcptrace live'],
  ['slow connects, a full accept queue', 'sudo tcptrace hist'],
  ['how connections end, who closes first', 'sudo tcptrace life'],
  ['how many sockets per state, and whose', 'sudo tcptrace snapshot'],
  ['the same in Prometheus', 'sudo tcptrace serve'],
];

/** Each example on its line, what it answers indented below: fits 80 columns. */
export function examplesText(command: string): string {
  return ['', 'Examples:', ...(EXAMPLES[command] ?? []).flatMap(([c, what]) => [`  ${c}`, `      ${what}`])].join('\n');
}

export function symptomsText(): string {
  const width = Math.max(...SYMPTOMS.map(([s]) => s.length));
  return ['', 'Where to start:', ...SYMPTOMS.map(([s, c]) => `  ${s.padEnd(width)}  ${c}`),
    '', 'Every command: tcptrace COMMAND --help (its flags and examples); docs/commands.md.'].join('\n');
}
