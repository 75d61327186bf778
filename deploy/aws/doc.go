// Package awsdeploy holds the CloudFormation template of the production
// path on AWS (template.yaml): the input bucket with EventBridge
// notifications, the rule that sends Object Created events of the two
// inputs to an SQS queue with a dead-letter queue (polled by `coordinator
// serve --sqs-queue-url`), the block store bucket, the Books and
// BookSimilarities tables, ElastiCache for Redis (TLS, auth token), an ECS
// cluster with Fargate services for the coordinator and the workers (the
// workers scaled between zero and a maximum on the QueueDepth metric that
// `coordinator serve --cloudwatch-namespace` publishes), secrets, log
// groups, and least-privilege task and execution roles.
//
// It has no Go code of its own. Its test parses the template, short-form
// intrinsics (!Ref, !GetAtt, !Sub …) included, and checks that every
// reference resolves, that every policy grants exactly the actions the
// binaries need on resources of the template and nothing more, and the
// wiring (rule pattern, queue redrive, table key schemas as shared/dynamo
// writes them, task definitions against the binaries' -h, scaling alarms
// against coordinator/cloudwatch); TestCfnLint runs cfn-lint on it.
package awsdeploy
