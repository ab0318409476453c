// A Temporal worker for the workflows of workflows.ts, configured by the environment
// variables flowbridge's binaries read: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and
// TEMPORAL_TASK_QUEUE. SIGINT or SIGTERM stops it.
import { NativeConnection, Worker } from '@temporalio/worker';

async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS || '127.0.0.1:7233';
  const namespace = process.env.TEMPORAL_NAMESPACE || 'default';
  const taskQueue = process.env.TEMPORAL_TASK_QUEUE || 'typescript-onboarding';
  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue,
      workflowsPath: require.resolve('./workflows'),
    });
    console.log(`worker polling ${address} namespace ${namespace} task queue ${taskQueue}`);
    await worker.run();
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
