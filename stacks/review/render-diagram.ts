import { type Block, policyStatements, ROLE_REF, type TerraformJson } from "./terraform-json";

interface Node {
  readonly id: string;
  readonly shape: "table" | "box" | "stream" | "queue";
  readonly label: string;
}

/** The node kinds the diagram shows: resource type -> how to draw and name one. */
const KINDS: Record<string, { shape: Node["shape"]; label: (name: string, body: Block) => string }> = {
  aws_dynamodb_table: { shape: "table", label: (_n, b) => `DynamoDB table ${b.name}` },
  "data.aws_dynamodb_table": { shape: "table", label: (_n, b) => `DynamoDB table ${b.name} (existing, read only)` },
  aws_lambda_function: { shape: "box", label: (_n, b) => `Lambda ${b.function_name}` },
  aws_s3_bucket: { shape: "box", label: (_n, b) => `S3 bucket ${b.bucket ?? `${b.bucket_prefix}*`}` },
  aws_glue_job: { shape: "box", label: (_n, b) => `Glue job ${b.name}` },
  aws_sqs_queue: { shape: "queue", label: (_n, b) => `SQS queue ${b.name}` },
  aws_sns_topic: { shape: "box", label: (_n, b) => `SNS topic ${b.name}` },
};

// A reference, as `${type.name.attr}` or bare inside a function call such as jsonencode(...).
const REFERENCE = /(?<![\w.-])(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\b/g;

/**
 * A Mermaid flowchart of one synthesized stack, read from its Terraform JSON alone: the tables
 * (resources or data sources), each table's stream, the function, bucket, jobs, queue and topic;
 * the event source mapping and the failure destinations as edges; and every IAM grant of a role as an
 * edge from what runs with the role to what the grant names, labelled with its actions. A grant on a
 * resource outside the diagram (logs, a foreign key, "*") is left out. Deterministic: sorted.
 */
export function renderMermaid(tf: TerraformJson): string {
  const resources = tf.resource ?? {};
  const statementsOf = policyStatements(tf);
  const nodes = new Map<string, Node>();
  const byAddress = new Map<string, string>();
  const usedIds = new Set<string>();
  const addNode = (address: string, shape: Node["shape"], label: string) => {
    let id = `n_${address.replace(/^data\./, "data_").replace(/[^A-Za-z0-9]+/g, "_")}`;
    while (usedIds.has(id)) id += "_";
    usedIds.add(id);
    nodes.set(id, { id, shape, label });
    byAddress.set(address, id);
    return id;
  };
  for (const [kind, spec] of Object.entries(KINDS)) {
    const blocks = kind.startsWith("data.") ? (tf.data?.[kind.slice(5)] ?? {}) : (resources[kind] ?? {});
    for (const [name, body] of Object.entries(blocks).sort(([a], [b]) => a.localeCompare(b))) {
      addNode(`${kind}.${name}`, spec.shape, spec.label(name, body));
    }
  }
  const streams = new Map<string, string>();
  const streamOf = (tableAddress: string) => {
    let id = streams.get(tableAddress);
    if (id === undefined) {
      const table = nodes.get(byAddress.get(tableAddress)!)!;
      id = addNode(`${tableAddress}.stream`, "stream", `stream of ${table.label.replace(/^DynamoDB table /, "").replace(/ \(existing, read only\)$/, "")}`);
      streams.set(tableAddress, id);
    }
    return id;
  };
  /** The nodes a string refers to: `${type.name.attr}` references, a stream by its stream_arn, a Glue job by the name in its ARN. */
  const targetsOf = (value: string): string[] => {
    const found = new Set<string>();
    for (const match of value.matchAll(REFERENCE)) {
      const address = `${match[1] ?? ""}${match[2]}.${match[3]}`;
      if (!byAddress.has(address)) continue;
      found.add(match[4] === "stream_arn" ? streamOf(address) : byAddress.get(address)!);
    }
    const job = /:glue:[^:]*:[^:]*:job\/([^/*]+)$/.exec(value);
    if (job) {
      for (const [name, body] of Object.entries(resources.aws_glue_job ?? {})) if (body.name === job[1]) found.add(byAddress.get(`aws_glue_job.${name}`)!);
    }
    return [...found];
  };

  const edges = new Map<string, { from: string; to: string; style: "-->" | "-.->"; labels: Set<string> }>();
  const addEdge = (from: string, to: string, style: "-->" | "-.->", label: string) => {
    const key = `${from} ${style} ${to}`;
    const edge = edges.get(key) ?? { from, to, style, labels: new Set<string>() };
    edge.labels.add(label);
    edges.set(key, edge);
  };

  for (const [tableAddress] of [...byAddress].filter(([address]) => /aws_dynamodb_table\.[^.]+$/.test(address))) {
    const body = tableAddress.startsWith("data.") ? tf.data!.aws_dynamodb_table[tableAddress.split(".")[2]] : resources.aws_dynamodb_table[tableAddress.split(".")[1]];
    if (body.stream_enabled === true) streamOf(tableAddress);
  }
  for (const mapping of Object.values(resources.aws_lambda_event_source_mapping ?? {})) {
    for (const source of targetsOf(String(mapping.event_source_arn))) {
      for (const fn of targetsOf(String(mapping.function_name))) {
        addEdge(source, fn, "-->", "event source mapping");
        for (const destination of targetsOf(JSON.stringify(mapping.destination_config ?? {}))) addEdge(fn, destination, "-.->", "failed batches (on-failure destination)");
      }
    }
  }
  for (const table of streams.keys()) addEdge(byAddress.get(table)!, streams.get(table)!, "-->", "changes");

  // Who runs with each role: the functions and jobs that name it.
  const runners = new Map<string, string[]>();
  for (const [type, attribute] of [["aws_lambda_function", "role"], ["aws_glue_job", "role_arn"]] as const) {
    for (const [name, body] of Object.entries(resources[type] ?? {})) {
      const role = ROLE_REF.exec(String(body[attribute]));
      if (role) runners.set(role[1], [...(runners.get(role[1]) ?? []), byAddress.get(`${type}.${name}`)!]);
    }
  }
  for (const policy of Object.values(resources.aws_iam_role_policy ?? {})) {
    const role = ROLE_REF.exec(String(policy.role));
    if (!role) continue;
    for (const statement of statementsOf(policy.policy)) {
      if (statement.effect === "Deny") continue;
      const actions = statement.actions ?? [];
      for (const target of (statement.resources ?? []).flatMap(targetsOf)) {
        for (const runner of runners.get(role[1]) ?? []) for (const action of actions) addEdge(runner, target, "-->", action);
      }
    }
  }
  // Failed Glue runs reach the topic through an EventBridge rule; the alarms through their actions.
  for (const [ruleName, rule] of Object.entries(resources.aws_cloudwatch_event_rule ?? {})) {
    const jobs = targetsOf(String(rule.event_pattern ?? ""));
    for (const target of Object.values(resources.aws_cloudwatch_event_target ?? {})) {
      if (!String(target.rule).includes(`aws_cloudwatch_event_rule.${ruleName}.`)) continue;
      for (const to of targetsOf(String(target.arn))) for (const job of jobs) addEdge(job, to, "-.->", "run state change (EventBridge)");
    }
  }
  const alarms = Object.values(resources.aws_cloudwatch_metric_alarm ?? {});
  const alarmTopics = new Set(alarms.flatMap((alarm) => (alarm.alarm_actions ?? []).flatMap((action: string) => targetsOf(action))));
  if (alarmTopics.size) {
    const id = addNode("aws_cloudwatch_metric_alarm.all", "box", `${alarms.length} CloudWatch alarms`);
    for (const topic of alarmTopics) addEdge(id, topic, "-.->", "alarm actions");
  }

  const lines = ["flowchart LR"];
  for (const node of [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id))) lines.push(`    ${node.id}${shape(node)}`);
  for (const edge of [...edges.values()].sort((a, b) => `${a.from} ${a.to} ${a.style}`.localeCompare(`${b.from} ${b.to} ${b.style}`))) {
    lines.push(`    ${edge.from} ${edge.style}|"${escape([...edge.labels].sort().join(", "))}"| ${edge.to}`);
  }
  return `${lines.join("\n")}\n`;
}

function shape(node: Node): string {
  const label = `"${escape(node.label)}"`;
  switch (node.shape) {
    case "table":
      return `[(${label})]`;
    case "stream":
      return `([${label}])`;
    case "queue":
      return `[[${label}]]`;
    default:
      return `[${label}]`;
  }
}

/** Mermaid labels are quoted: a quote inside becomes its entity, and `${...}` references stay readable text. */
function escape(text: string): string {
  return text.replace(/"/g, "#quot;");
}
