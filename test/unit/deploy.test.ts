/**
 * The deployment files in deploy/: they cannot run here (no cluster, no
 * systemd as init), so they are parsed and the fields that matter checked,
 * and checked by the tools that would read them (promtool, systemd-analyze).
 * promtool comes with Debian's prometheus package (scripts/setup.sh --test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { buildProgram } from '../../src/cli/main';
import { ServeFlags } from '../../src/cli/commands/serve';
import { SERVE_DEFAULTS } from '../../src/cli/options';
import { DURATION_HISTOGRAMS, METRICS } from '../../src/model/metrics';

const ROOT = path.resolve(__dirname, '../../..');
const DEPLOY = path.join(ROOT, 'deploy');
const PROMETHEUS_DIR = path.join(DEPLOY, 'prometheus');

type Json = Record<string, any>;

function yamlDocuments(file: string): Json[] {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  for (const doc of docs) assert.deepEqual(doc.errors, [], `${file} parses`);
  return docs.map((doc) => doc.toJS() as Json);
}

/** A systemd unit: section -> key -> values (keys may repeat). */
function parseUnit(file: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = new Map();
      sections.set(header[1], section);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(section && eq > 0, `${file}: "${line}" is a key=value line in a section`);
    const key = line.slice(0, eq), value = line.slice(eq + 1);
    section.set(key, [...(section.get(key) ?? []), value]);
  }
  return sections;
}

/** The flags `tcptrace serve` would run with for these arguments (parsed and validated by the real CLI). */
async function serveFlagsFor(args: string[]): Promise<ServeFlags> {
  const program = buildProgram();
  let flags: ServeFlags | undefined;
  program.commands.find((c) => c.name() === 'serve')!.action((parsed: ServeFlags) => { flags = parsed; });
  await program.parseAsync(['node', 'tcptrace', ...args]);
  assert.ok(flags, `tcptrace ${args.join(' ')} runs serve`);
  return flags;
}

function run(command: string, args: string[], cwd = ROOT): { status: number | null; output: string } {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.error, undefined, `${command} runs (Debian packages prometheus, systemd: scripts/setup.sh --test)`);
  return { status: r.status, output: (r.stdout + r.stderr).trim() };
}

const REQUIRED_CAPABILITIES = ['CAP_BPF', 'CAP_PERFMON'];
const DEFAULT_PORT = Number(SERVE_DEFAULTS.listen.split(':')[1]);

// ---- Kubernetes -------------------------------------------------------------

const manifest = () => yamlDocuments(path.join(DEPLOY, 'kubernetes', 'daemonset.yaml'));
const daemonSet = () => manifest().find((d) => d.kind === 'DaemonSet')!;
const agent = () => daemonSet().spec.template.spec.containers[0];

test('DaemonSet: one agent per node in the node\'s network and PID namespaces', () => {
  const docs = manifest();
  assert.deepEqual(docs.map((d) => d.kind), ['Namespace', 'DaemonSet', 'Service']);
  const ds = daemonSet();
  assert.equal(ds.apiVersion, 'apps/v1');
  assert.equal(ds.metadata.namespace, docs[0].metadata.name);
  for (const [key, value] of Object.entries(ds.spec.selector.matchLabels)) {
    assert.equal(ds.spec.template.metadata.labels[key], value, 'the selector matches the pod template');
  }
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostNetwork, true, 'socket counts are per network namespace: the node\'s');
  assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
  assert.equal(pod.hostPID, true, 'the open-file walk sees only its own PID namespace: the node\'s');
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
  assert.equal(pod.containers.length, 1);
});

test('DaemonSet: serve on the node\'s own address, valid flags, /healthz probes', async () => {
  const c = agent();
  assert.deepEqual(c.command, ['tcptrace']);
  const hostIp = c.env.find((e: Json) => e.name === 'HOST_IP');
  assert.equal(hostIp.valueFrom.fieldRef.fieldPath, 'status.hostIP');
  // The kubelet expands $(HOST_IP); the real CLI must accept the result.
  const flags = await serveFlagsFor(c.args.map((a: string) => a.replace('$(HOST_IP)', '10.1.2.3')));
  assert.deepEqual(flags.listen, { host: '10.1.2.3', port: DEFAULT_PORT });
  const port = c.ports.find((p: Json) => p.name === 'metrics');
  assert.equal(port.containerPort, DEFAULT_PORT);
  for (const probe of [c.readinessProbe, c.livenessProbe]) assert.deepEqual(probe.httpGet, { path: '/healthz', port: 'metrics' });
  assert.ok(c.resources.limits.memory, 'a memory limit');
});

test('DaemonSet: not privileged, only the capabilities the systemd unit has', () => {
  const sc = agent().securityContext;
  assert.equal(sc.privileged, false);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.runAsUser, 0);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.deepEqual([...sc.capabilities.add].map((cap: string) => `CAP_${cap}`).sort(), REQUIRED_CAPABILITIES);
});

test('DaemonSet: the host\'s tracefs, read-only, where tcptrace looks for it', () => {
  const pod = daemonSet().spec.template.spec;
  const mount = agent().volumeMounts.find((m: Json) => m.mountPath === '/sys/kernel/tracing');
  assert.equal(mount.readOnly, true);
  const volume = pod.volumes.find((v: Json) => v.name === mount.name);
  assert.deepEqual(volume.hostPath, { path: '/sys/kernel/tracing', type: 'Directory' });
});

test('headless Service: selects the agents, named as the scrape config resolves it', () => {
  const docs = manifest();
  const service = docs.find((d) => d.kind === 'Service')!;
  const ds = daemonSet();
  assert.equal(service.spec.clusterIP, 'None');
  assert.deepEqual(service.spec.selector, ds.spec.selector.matchLabels);
  assert.deepEqual(service.spec.ports.map((p: Json) => [p.port, p.targetPort]), [[DEFAULT_PORT, 'metrics']]);
  const [config] = yamlDocuments(path.join(PROMETHEUS_DIR, 'prometheus.yml'));
  const job = config.scrape_configs.find((j: Json) => j.job_name === 'tcptrace-kubernetes');
  assert.deepEqual(job.dns_sd_configs, [{
    names: [`${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`], type: 'A', port: DEFAULT_PORT,
  }]);
});

// ---- systemd ------------------------------------------------------------------

const UNIT = path.join(DEPLOY, 'systemd', 'tcptrace.service');

test('systemd unit: serve on loopback, valid flags, restarted on failure', async () => {
  const unit = parseUnit(UNIT);
  const service = unit.get('Service')!;
  const [command, ...args] = service.get('ExecStart')![0].split(/\s+/);
  assert.equal(command, 'tcptrace', 'found in /usr/local/bin or /usr/bin, wherever npm install -g put it');
  const flags = await serveFlagsFor(args);
  assert.deepEqual(flags.listen, { host: '127.0.0.1', port: DEFAULT_PORT });
  assert.deepEqual(service.get('Restart'), ['on-failure']);
  assert.deepEqual(service.get('Type'), ['exec']);
  assert.deepEqual(unit.get('Install')!.get('WantedBy'), ['multi-user.target']);
});

test('systemd unit: only the capabilities tcptrace needs, in the host\'s namespaces', () => {
  const service = parseUnit(UNIT).get('Service')!;
  const caps = (key: string) => service.get(key)![0].split(/\s+/).sort();
  assert.deepEqual(caps('CapabilityBoundingSet'), REQUIRED_CAPABILITIES);
  assert.deepEqual(caps('AmbientCapabilities'), REQUIRED_CAPABILITIES);
  assert.deepEqual(service.get('NoNewPrivileges'), ['yes']);
  for (const key of ['PrivateNetwork', 'PrivatePIDs', 'PrivateUsers']) assert.equal(service.get(key), undefined, `${key} would hide the host's sockets or tasks`);
});

test('systemd-analyze verify: no warning on the unit', () => {
  // verify insists the command exists: point it at this checkout's tcptrace.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-unit-'));
  try {
    const text = fs.readFileSync(UNIT, 'utf8').replace(/^ExecStart=tcptrace /m, `ExecStart=${path.join(ROOT, 'bin', 'tcptrace')} `);
    assert.notEqual(text, fs.readFileSync(UNIT, 'utf8'));
    fs.writeFileSync(path.join(dir, 'tcptrace.service'), text);
    const r = run('systemd-analyze', ['verify', path.join(dir, 'tcptrace.service')]);
    assert.deepEqual(r, { status: 0, output: '' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- Prometheus -----------------------------------------------------------------

test('scrape config: promtool check config passes; the local job scrapes the unit\'s address', () => {
  const r = run('promtool', ['check', 'config', 'prometheus.yml'], PROMETHEUS_DIR);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /SUCCESS: 4 rules found/);
  const [config] = yamlDocuments(path.join(PROMETHEUS_DIR, 'prometheus.yml'));
  assert.deepEqual(config.rule_files, ['tcptrace-alerts.yml']);
  const local = config.scrape_configs.find((j: Json) => j.job_name === 'tcptrace');
  assert.deepEqual(local.static_configs, [{ targets: [SERVE_DEFAULTS.listen] }]);
});

test('alert rules: promtool check rules, and promtool test rules proves each fires (and stays quiet)', () => {
  const check = run('promtool', ['check', 'rules', 'tcptrace-alerts.yml'], PROMETHEUS_DIR);
  assert.equal(check.status, 0, check.output);
  const unitTests = run('promtool', ['test', 'rules', 'tcptrace-alerts.test.yml'], PROMETHEUS_DIR);
  assert.equal(unitTests.status, 0, unitTests.output);
  assert.match(unitTests.output, /SUCCESS/);
  const [rulesTest] = yamlDocuments(path.join(PROMETHEUS_DIR, 'tcptrace-alerts.test.yml'));
  const [rules] = yamlDocuments(path.join(PROMETHEUS_DIR, 'tcptrace-alerts.yml'));
  const alerts = rules.groups.flatMap((g: Json) => g.rules.map((r: Json) => r.alert));
  assert.deepEqual(alerts, ['TcpCloseWaitGrowing', 'TcpCloseWaitHeldByProcess', 'TcpTimeWaitNearEphemeralRange', 'TcptraceLosingEvents']);
  for (const alert of alerts) {
    const cases = rulesTest.tests.flatMap((t: Json) => t.alert_rule_test).filter((c: Json) => c.alertname === alert);
    assert.ok(cases.some((c: Json) => c.exp_alerts.length > 0), `${alert} is shown to fire`);
    assert.ok(cases.some((c: Json) => c.exp_alerts.length === 0), `${alert} is shown not to fire too early`);
  }
});

test('alert rules name only metrics and labels tcptrace serve exports', () => {
  const exported = new Map<string, readonly string[]>(Object.values(METRICS).map((m) => [m.name, m.labelNames]));
  for (const h of Object.values(DURATION_HISTOGRAMS)) exported.set(h!.name, []);
  const [rules] = yamlDocuments(path.join(PROMETHEUS_DIR, 'tcptrace-alerts.yml'));
  for (const rule of rules.groups.flatMap((g: Json) => g.rules)) {
    for (const [, name, selector] of (rule.expr as string).matchAll(/\b(tcptrace_\w+)(\{[^}]*\})?/g)) {
      assert.ok(exported.has(name), `${rule.alert}: ${name} is exported`);
      for (const [, label] of (selector ?? '').matchAll(/(\w+)\s*!?=~?/g)) {
        assert.ok(exported.get(name)!.includes(label), `${rule.alert}: ${name} has a ${label} label`);
      }
    }
  }
});
