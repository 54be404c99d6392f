// BullMQ sandboxed processor of the benchmark (a child process or a worker thread runs it): a no-op,
// whatever the job's name and data, like bench/jobs.ts for rq-ts.
export default async function process(_job) {}
