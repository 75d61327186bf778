// Package awsdeploy holds the CloudFormation template of the production
// path on AWS (template.yaml): the input bucket with EventBridge
// notifications, the rule that sends Object Created events of the two
// inputs to an SQS queue with a dead-letter queue (polled by `coordinator
// serve --sqs-queue-url`), the block store bucket, the Books and
// BookSimilarities tables, and least-privilege task roles for the
// coordinator and the workers.
//
// It has no Go code of its own. Its test parses the template, short-form
// intrinsics (!Ref, !GetAtt, !Sub …) included, and checks that every
// reference resolves, that every policy grants exactly the actions the
// binaries need on resources of the template and nothing more, and the
// wiring (rule pattern, queue redrive, table key schemas as shared/dynamo
// writes them).
package awsdeploy
