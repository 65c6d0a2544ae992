import { type Block, policyStatements, ROLE_REF, type Statement, type TerraformJson } from "./terraform-json";

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
  aws_backup_vault: { shape: "box", label: (_n, b) => `AWS Backup vault ${b.name}` },
};

// A reference, as `${type.name.attr}` or bare inside a function call such as jsonencode(...).
const REFERENCE = /(?<![\w.-])(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\b/g;

type EdgeStyle = "-->" | "-.->";

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly style: EdgeStyle;
  readonly labels: Set<string>;
}

/**
 * A Mermaid flowchart of one synthesized stack, read from its Terraform JSON alone: the tables
 * (resources or data sources), each table's stream, the function, bucket, jobs, queue and topic;
 * the event source mapping and the failure destinations as edges; and every IAM grant of a role as an
 * edge from what runs with the role to what the grant names, labelled with its actions. A grant on a
 * resource outside the diagram (logs, a foreign key, "*") is left out. Deterministic: sorted.
 */
export function renderMermaid(tf: TerraformJson): string {
  const diagram = new StackDiagram(tf);
  diagram.addResourceNodes();
  diagram.addEnabledStreams();
  diagram.addEventSourceMappings();
  diagram.addTableChanges();
  diagram.addGrants();
  diagram.addGlueRunStateChanges();
  diagram.addBackupSelections();
  diagram.addAlarms();
  return diagram.render();
}

/**
 * The diagram as it is drawn: nodes by resource address, edges with their labels. Node ids are
 * given in the order nodes are added (a clash gets a `_` more), so the steps run in a fixed order.
 */
class StackDiagram {
  private readonly resources: Record<string, Record<string, Block>>;
  private readonly statementsOf: (policy: unknown) => Statement[];
  private readonly nodes = new Map<string, Node>();
  /** Resource address (or `<table address>.stream`) -> node id. */
  private readonly byAddress = new Map<string, string>();
  private readonly usedIds = new Set<string>();
  /** Table address -> the node of its stream. */
  private readonly streams = new Map<string, string>();
  private readonly edges = new Map<string, Edge>();

  constructor(private readonly tf: TerraformJson) {
    this.resources = tf.resource ?? {};
    this.statementsOf = policyStatements(tf);
  }

  /** A node for every resource (and data source) of the kinds drawn, by kind, then by name. */
  addResourceNodes(): void {
    for (const [kind, spec] of Object.entries(KINDS)) {
      const blocks = kind.startsWith("data.") ? (this.tf.data?.[kind.slice(5)] ?? {}) : (this.resources[kind] ?? {});
      for (const [name, body] of Object.entries(blocks).sort(([a], [b]) => a.localeCompare(b))) {
        this.addNode(`${kind}.${name}`, spec.shape, spec.label(name, body));
      }
    }
  }

  /** The stream of every table that has one on (an existing table's, only once something reads it). */
  addEnabledStreams(): void {
    for (const [tableAddress] of [...this.byAddress].filter(([address]) => /aws_dynamodb_table\.[^.]+$/.test(address))) {
      const body = tableAddress.startsWith("data.") ? this.tf.data!.aws_dynamodb_table[tableAddress.split(".")[2]] : this.resources.aws_dynamodb_table[tableAddress.split(".")[1]];
      if (body.stream_enabled === true) this.streamOf(tableAddress);
    }
  }

  /** Stream -> function for each event source mapping, and function -> its on-failure destination. */
  addEventSourceMappings(): void {
    for (const mapping of Object.values(this.resources.aws_lambda_event_source_mapping ?? {})) {
      for (const source of this.targetsOf(String(mapping.event_source_arn))) {
        for (const fn of this.targetsOf(String(mapping.function_name))) {
          this.addEdge(source, fn, "-->", "event source mapping");
          for (const destination of this.targetsOf(JSON.stringify(mapping.destination_config ?? {}))) this.addEdge(fn, destination, "-.->", "failed batches (on-failure destination)");
        }
      }
    }
  }

  /** Table -> its stream, for every stream drawn so far. */
  addTableChanges(): void {
    for (const [table, stream] of this.streams) this.addEdge(this.byAddress.get(table)!, stream, "-->", "changes");
  }

  /** Each allowed action of a role's policy, from what runs with the role to each resource drawn that it names. */
  addGrants(): void {
    const runners = this.runnersByRole();
    for (const policy of Object.values(this.resources.aws_iam_role_policy ?? {})) {
      const role = ROLE_REF.exec(String(policy.role));
      if (!role) continue;
      for (const statement of this.statementsOf(policy.policy)) {
        if (statement.effect === "Deny") continue;
        const actions = statement.actions ?? [];
        for (const target of (statement.resources ?? []).flatMap((value) => this.targetsOf(value))) {
          for (const runner of runners.get(role[1]) ?? []) for (const action of actions) this.addEdge(runner, target, "-->", action);
        }
      }
    }
  }

  /** Failed Glue runs reach the topic through an EventBridge rule: job -> the rule's target. */
  addGlueRunStateChanges(): void {
    for (const [ruleName, rule] of Object.entries(this.resources.aws_cloudwatch_event_rule ?? {})) {
      const jobs = this.targetsOf(String(rule.event_pattern ?? ""));
      for (const target of Object.values(this.resources.aws_cloudwatch_event_target ?? {})) {
        if (!String(target.rule).includes(`aws_cloudwatch_event_rule.${ruleName}.`)) continue;
        for (const to of this.targetsOf(String(target.arn))) for (const job of jobs) this.addEdge(job, to, "-.->", "run state change (EventBridge)");
      }
    }
  }

  /** Each table an AWS Backup selection names -> the vault of each rule of its plan, labelled with the rule's schedule. */
  addBackupSelections(): void {
    const plans = this.resources.aws_backup_plan ?? {};
    const locks = this.resources.aws_backup_vault_lock_configuration ?? {};
    // A rule names its vault through the vault's lock, so that no job can start before the lock exists.
    const throughLock = (value: string) => value.replace(/\$\{aws_backup_vault_lock_configuration\.([^.]+)\.backup_vault_name\}/g, (whole, name: string) => String(locks[name]?.backup_vault_name ?? whole));
    for (const selection of Object.values(this.resources.aws_backup_selection ?? {})) {
      const plan = plans[/aws_backup_plan\.([^.]+)\./.exec(String(selection.plan_id))?.[1] ?? ""];
      for (const rule of plan?.rule ?? []) {
        for (const vault of this.targetsOf(throughLock(String(rule.target_vault_name)))) {
          for (const table of this.targetsOf(JSON.stringify(selection.resources ?? []))) this.addEdge(table, vault, "-->", `AWS Backup, ${rule.schedule}`);
        }
      }
    }
  }

  /** The alarms as one node, with an edge to each topic their actions notify. */
  addAlarms(): void {
    const alarms = Object.values(this.resources.aws_cloudwatch_metric_alarm ?? {});
    const alarmTopics = new Set(alarms.flatMap((alarm) => (alarm.alarm_actions ?? []).flatMap((action: string) => this.targetsOf(action))));
    if (!alarmTopics.size) return;
    const id = this.addNode("aws_cloudwatch_metric_alarm.all", "box", `${alarms.length} CloudWatch alarms`);
    for (const topic of alarmTopics) this.addEdge(id, topic, "-.->", "alarm actions");
  }

  /** `flowchart LR`, the nodes sorted by id, then the edges sorted by their ends, labels joined. */
  render(): string {
    const lines = ["flowchart LR"];
    for (const node of [...this.nodes.values()].sort((a, b) => a.id.localeCompare(b.id))) lines.push(`    ${node.id}${shape(node)}`);
    for (const edge of [...this.edges.values()].sort((a, b) => `${a.from} ${a.to} ${a.style}`.localeCompare(`${b.from} ${b.to} ${b.style}`))) {
      lines.push(`    ${edge.from} ${edge.style}|"${escape([...edge.labels].sort().join(", "))}"| ${edge.to}`);
    }
    return `${lines.join("\n")}\n`;
  }

  private addNode(address: string, shape: Node["shape"], label: string): string {
    let id = `n_${address.replace(/^data\./, "data_").replace(/[^A-Za-z0-9]+/g, "_")}`;
    while (this.usedIds.has(id)) id += "_";
    this.usedIds.add(id);
    this.nodes.set(id, { id, shape, label });
    this.byAddress.set(address, id);
    return id;
  }

  /** One edge per ends and style; the labels of the same edge are gathered. */
  private addEdge(from: string, to: string, style: EdgeStyle, label: string): void {
    const key = `${from} ${style} ${to}`;
    const edge = this.edges.get(key) ?? { from, to, style, labels: new Set<string>() };
    edge.labels.add(label);
    this.edges.set(key, edge);
  }

  /** The node of a table's stream, added the first time it is asked for. */
  private streamOf(tableAddress: string): string {
    let id = this.streams.get(tableAddress);
    if (id === undefined) {
      const table = this.nodes.get(this.byAddress.get(tableAddress)!)!;
      id = this.addNode(`${tableAddress}.stream`, "stream", `stream of ${table.label.replace(/^DynamoDB table /, "").replace(/ \(existing, read only\)$/, "")}`);
      this.streams.set(tableAddress, id);
    }
    return id;
  }

  /** The nodes a string refers to: `${type.name.attr}` references, a stream by its stream_arn, a Glue job by the name in its ARN. */
  private targetsOf(value: string): string[] {
    const found = new Set<string>();
    for (const match of value.matchAll(REFERENCE)) {
      const address = `${match[1] ?? ""}${match[2]}.${match[3]}`;
      if (!this.byAddress.has(address)) continue;
      found.add(match[4] === "stream_arn" ? this.streamOf(address) : this.byAddress.get(address)!);
    }
    const job = /:glue:[^:]*:[^:]*:job\/([^/*]+)$/.exec(value);
    if (job) {
      for (const [name, body] of Object.entries(this.resources.aws_glue_job ?? {})) if (body.name === job[1]) found.add(this.byAddress.get(`aws_glue_job.${name}`)!);
    }
    return [...found];
  }

  /** Who runs with each role: role name -> the functions and jobs that name it. */
  private runnersByRole(): Map<string, string[]> {
    const runners = new Map<string, string[]>();
    for (const [type, attribute] of [["aws_lambda_function", "role"], ["aws_glue_job", "role_arn"]] as const) {
      for (const [name, body] of Object.entries(this.resources[type] ?? {})) {
        const role = ROLE_REF.exec(String(body[attribute]));
        if (role) runners.set(role[1], [...(runners.get(role[1]) ?? []), this.byAddress.get(`${type}.${name}`)!]);
      }
    }
    return runners;
  }
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
