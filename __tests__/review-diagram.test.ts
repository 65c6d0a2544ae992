/** REVIEW.md's Mermaid diagram: drawn from the synthesized cdk.tf.json itself, and valid flowchart syntax. */
import * as fs from "node:fs";
import * as path from "node:path";
import { renderMermaid } from "../stacks/review/render-diagram";
import { policyDocuments } from "./helpers/iam";
import { synthesizeEnvironment, type SynthesizedStack, type TfJson } from "./helpers/synth";

const NODE = /^ {4}([A-Za-z][A-Za-z0-9_]*)(\[\("[^"]*"\)\]|\(\["[^"]*"\]\)|\[\["[^"]*"\]\]|\["[^"]*"\])$/;
const EDGE = /^ {4}([A-Za-z][A-Za-z0-9_]*) (-->|-\.->)\|"([^"]*)"\| ([A-Za-z][A-Za-z0-9_]*)$/;
// Words Mermaid's flowchart grammar reads as keywords, which break a diagram when used as a node id.
const RESERVED = new Set(["end", "graph", "flowchart", "subgraph", "style", "classDef", "class", "click", "linkStyle", "direction"]);

interface Diagram {
  nodes: Map<string, string>;
  edges: { from: string; arrow: string; label: string; to: string }[];
  problems: string[];
}

/** Reads a flowchart the way the renderer writes it, listing every line that is not valid syntax. */
function parseFlowchart(text: string): Diagram {
  const [header, ...lines] = text.trimEnd().split("\n");
  const diagram: Diagram = { nodes: new Map(), edges: [], problems: header === "flowchart LR" ? [] : [`header ${header}`] };
  for (const line of lines) {
    const node = NODE.exec(line);
    const edge = EDGE.exec(line);
    if (node) {
      if (diagram.nodes.has(node[1])) diagram.problems.push(`node ${node[1]} declared twice`);
      if (RESERVED.has(node[1].toLowerCase())) diagram.problems.push(`node id ${node[1]} is a keyword`);
      diagram.nodes.set(node[1], /"([^"]*)"/.exec(node[2])![1]);
    } else if (edge) {
      diagram.edges.push({ from: edge[1], arrow: edge[2], label: edge[3], to: edge[4] });
    } else {
      diagram.problems.push(`not a node or an edge: ${line}`);
    }
  }
  for (const edge of diagram.edges) {
    for (const end of [edge.from, edge.to]) if (!diagram.nodes.has(end)) diagram.problems.push(`edge to undeclared node ${end}`);
  }
  return diagram;
}

const labelled = (diagram: Diagram, from: RegExp, to: RegExp) =>
  diagram.edges.filter((e) => from.test(diagram.nodes.get(e.from)!) && to.test(diagram.nodes.get(e.to)!)).map((e) => `${e.arrow} ${e.label}`);

describe("the review diagram", () => {
  let stack: SynthesizedStack;
  let diagram: Diagram;
  beforeAll(() => {
    stack = synthesizeEnvironment();
    diagram = parseFlowchart(renderMermaid(stack.json));
  });

  test("is in REVIEW.md, as a mermaid block, exactly as rendered from cdk.tf.json", () => {
    const review = fs.readFileSync(path.join(stack.dir, "REVIEW.md"), "utf8");
    const block = /```mermaid\n([\s\S]*?)```/.exec(review)![1];
    const json = JSON.parse(fs.readFileSync(path.join(stack.dir, "cdk.tf.json"), "utf8")) as TfJson;
    expect(block).toBe(renderMermaid(json));
  });

  test("is valid flowchart syntax: declared nodes with safe ids, quoted labels, edges between declared nodes", () => {
    expect(diagram.problems).toEqual([]);
    expect([...diagram.nodes.values()].sort()).toEqual([
      "9 CloudWatch alarms",
      "DynamoDB table api-pagos",
      "DynamoDB table api-pos-backup",
      "Glue job api-pagos-replication-apply-changes",
      "Glue job api-pagos-replication-full-copy",
      "Glue job api-pagos-replication-restore",
      "Glue job api-pagos-replication-restore-drill",
      "Glue job api-pagos-replication-verify",
      "Lambda api-pagos-replication-change-trigger",
      "S3 bucket api-pagos-replication-*",
      "SNS topic api-pagos-replication-alarms",
      "SQS queue api-pagos-replication-change-trigger-dlq",
      "stream of api-pagos",
    ]);
  });

  test("shows the data path and the grants as labelled edges", () => {
    expect(labelled(diagram, /^DynamoDB table api-pagos$/, /^stream/)).toEqual(["--> changes"]);
    expect(labelled(diagram, /^stream/, /^Lambda/)).toEqual(["--> event source mapping"]);
    expect(labelled(diagram, /^Lambda/, /^stream/)).toEqual(["--> dynamodb:DescribeStream, dynamodb:GetRecords, dynamodb:GetShardIterator"]);
    expect(labelled(diagram, /^Lambda/, /^S3/)).toEqual(["--> s3:ListBucket, s3:PutObject"]);
    // The sweep: every end of an apply run invokes the function (the schedule has no source to draw).
    expect(labelled(diagram, /^Glue job .*apply-changes$/, /^Lambda/)).toEqual(["-.-> run state change (EventBridge)"]);
    expect(labelled(diagram, /^Lambda/, /apply-changes/)).toEqual(["--> glue:GetJobRuns, glue:StartJobRun"]);
    expect(labelled(diagram, /^Lambda/, /^SQS/).sort()).toEqual(["--> sqs:SendMessage", "-.-> failed batches (on-failure destination)"]);
    expect(labelled(diagram, /apply-changes/, /api-pos-backup/)).toEqual(["--> dynamodb:GetItem, dynamodb:PutItem"]);
    expect(labelled(diagram, /apply-changes/, /^S3/)).toEqual(["--> s3:DeleteObject, s3:DeleteObjectVersion, s3:GetObject, s3:GetObjectVersion, s3:ListBucket, s3:PutObject"]);
    expect(labelled(diagram, /apply-changes/, /apply-changes/)).toEqual([]); // the job starts no runs: the sweep does
    expect(labelled(diagram, /full-copy/, /^DynamoDB table api-pagos$/)).toEqual(["--> dynamodb:BatchGetItem, dynamodb:DescribeTable, dynamodb:Scan"]);
    expect(labelled(diagram, /^Glue job/, /^SNS/)).toEqual(Array(5).fill("-.-> run state change (EventBridge)")); // the five jobs, through two rules
    expect(labelled(diagram, /alarms$/, /^SNS/)).toEqual(["-.-> alarm actions"]);
  });

  test("follows the JSON: a changed, added or removed grant or mapping changes the picture", () => {
    const json = JSON.parse(JSON.stringify(stack.json)) as TfJson;
    const documents = policyDocuments(json);
    const applyPolicy = Object.values(json.resource.aws_iam_role_policy).find((p) => String(p.name).endsWith("-apply-changes"))!;
    const applyDoc = /aws_iam_policy_document\.([^.]+)\.json/.exec(applyPolicy.policy)![1];
    const consume = documents[applyDoc].find((s) => s.sid === "ConsumeManifests")!;
    consume.actions = ["s3:GetObject"];
    const fullCopyPolicy = Object.values(json.resource.aws_iam_role_policy).find((p) => String(p.name).endsWith("-full-copy"))!;
    const queue = Object.keys(json.resource.aws_sqs_queue)[0];
    policyDocuments(json)[/aws_iam_policy_document\.([^.]+)\.json/.exec(fullCopyPolicy.policy)![1]].push({ sid: "New", effect: "Allow", actions: ["sqs:SendMessage"], resources: [`\${aws_sqs_queue.${queue}.arn}`] });
    delete json.resource.aws_lambda_event_source_mapping;
    const changed = parseFlowchart(renderMermaid(json));
    expect(changed.problems).toEqual([]);
    expect(labelled(changed, /apply-changes/, /^S3/)).toEqual(["--> s3:GetObject, s3:ListBucket, s3:PutObject"]);
    expect(labelled(changed, /full-copy/, /^SQS/)).toEqual(["--> sqs:SendMessage"]);
    expect(labelled(changed, /^stream/, /^Lambda/)).toEqual([]);
  });

  test("an existing source table is a data source, read only, with its stream", () => {
    const existing = parseFlowchart(renderMermaid(synthesizeEnvironment({ sourceTable: { existing: true } }).json));
    expect(existing.problems).toEqual([]);
    expect(labelled(existing, /^stream of api-pagos$/, /^Lambda/)).toEqual(["--> event source mapping"]);
    expect([...existing.nodes.values()]).toContain("DynamoDB table api-pagos (existing, read only)");
  });

  test("quotes in names cannot break a label", () => {
    const json = { resource: { aws_sns_topic: { t: { name: 'say "hi"' } } } };
    expect(renderMermaid(json)).toBe('flowchart LR\n    n_aws_sns_topic_t["SNS topic say #quot;hi#quot;"]\n');
  });
});
