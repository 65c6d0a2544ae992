/**
 * The local Glue endpoint rejects what real Glue would: its validator follows the botocore model
 * in __tests__/reference/glue-api.json. (The handler tests rely on it to check the SDK's requests.)
 */
import * as http from "node:http";
import { startLocalGlue, validateShape, type LocalGlue } from "../local-aws/local-glue";

let glue: LocalGlue;
beforeAll(async () => {
  glue = await startLocalGlue({ jobNames: ["apply-changes"] });
});
afterAll(() => glue.close());
beforeEach(() => glue.reset());

function post(target: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${glue.endpoint}/`,
      {
        method: "POST",
        headers: {
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": target,
          authorization: `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/glue/aws4_request, SignedHeaders=host;x-amz-date, Signature=${"0".repeat(64)}`,
          ...headers,
        },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("validateShape (botocore model)", () => {
  test("accepts valid requests", () => {
    expect(validateShape("StartJobRunRequest", { JobName: "apply-changes" })).toEqual([]);
    expect(validateShape("StartJobRunRequest", { JobName: "j", Arguments: { "--x": "1" }, Timeout: 5, JobRunQueuingEnabled: true })).toEqual([]);
    expect(validateShape("GetJobRunsRequest", { JobName: "j", MaxResults: 10, NextToken: "t" })).toEqual([]);
  });
  test.each<[string, string, unknown, RegExp]>([
    ["missing required member", "StartJobRunRequest", {}, /JobName: required member/],
    ["unknown member", "StartJobRunRequest", { JobName: "j", Job: "x" }, /\$\.Job: unknown member/],
    ["string expected", "StartJobRunRequest", { JobName: 5 }, /expected a string/],
    ["integer expected", "GetJobRunsRequest", { JobName: "j", MaxResults: "10" }, /expected an integer/],
    ["integer range", "GetJobRunsRequest", { JobName: "j", MaxResults: 500 }, /above the maximum 200/],
    ["map values", "StartJobRunRequest", { JobName: "j", Arguments: { a: 1 } }, /Arguments\["a"\]: expected a string/],
    ["string length", "StartJobRunRequest", { JobName: "" }, /shorter than 1/],
    ["enum", "JobRun", { JobRunState: "QUEUED" }, /not one of/],
  ])("reports %s", (_, shape, value, problem) => {
    expect(validateShape(shape, value).join("\n")).toMatch(problem);
  });
});

describe("the server", () => {
  test("answers a valid StartJobRun and lists the run, newest first", async () => {
    const older = glue.addRun("apply-changes", "SUCCEEDED");
    const started = await post("AWSGlue.StartJobRun", JSON.stringify({ JobName: "apply-changes" }));
    expect(started.status).toBe(200);
    expect(started.body.JobRunId).toMatch(/^jr_[0-9a-f]{64}$/);
    const listed = await post("AWSGlue.GetJobRuns", JSON.stringify({ JobName: "apply-changes", MaxResults: 10 }));
    expect((listed.body.JobRuns as { Id: string }[]).map((r) => r.Id)).toEqual([started.body.JobRunId, older]);
    expect(glue.problems()).toEqual([]);
  });

  test("rejects and records a request that breaks the model", async () => {
    const response = await post("AWSGlue.StartJobRun", JSON.stringify({ JobName: "apply-changes", Bogus: 1 }));
    expect(response).toEqual({ status: 400, body: { __type: "InvalidInputException", Message: expect.stringMatching(/Bogus: unknown member/) } });
    expect(glue.problems()).toEqual([expect.stringMatching(/Bogus/)]);
  });

  test("rejects a wrong content type, an unsigned request, an unknown operation", async () => {
    await post("AWSGlue.GetJobRuns", JSON.stringify({ JobName: "apply-changes" }), { "content-type": "application/json" });
    await post("AWSGlue.GetJobRuns", JSON.stringify({ JobName: "apply-changes" }), { authorization: "" });
    await post("AWSGlue.DeleteJob", JSON.stringify({ JobName: "apply-changes" }));
    expect(glue.problems()).toEqual([
      expect.stringMatching(/content-type/),
      expect.stringMatching(/Authorization/),
      expect.stringMatching(/unsupported X-Amz-Target/),
    ]);
  });

  test("scripted failures: the next N calls of an operation, as AWS JSON errors", async () => {
    glue.failNext({ operation: "StartJobRun", errorType: "ConcurrentRunsExceededException", times: 2 });
    const body = JSON.stringify({ JobName: "apply-changes" });
    expect((await post("AWSGlue.GetJobRuns", body)).status).toBe(200);
    expect(await post("AWSGlue.StartJobRun", body)).toEqual({ status: 400, body: { __type: "ConcurrentRunsExceededException", Message: expect.any(String) } });
    expect((await post("AWSGlue.StartJobRun", body)).status).toBe(400);
    expect((await post("AWSGlue.StartJobRun", body)).status).toBe(200);
    glue.failNext({ errorType: "ThrottlingException" });
    expect(await post("AWSGlue.GetJobRuns", body)).toEqual({ status: 400, body: { __type: "ThrottlingException", message: expect.any(String) } });
    expect(await post("AWSGlue.GetJobRuns", JSON.stringify({ JobName: "other" }))).toMatchObject({ status: 400, body: { __type: "EntityNotFoundException" } });
  });
});
