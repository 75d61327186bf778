// Package deploy holds how the pipeline is deployed: the image of both
// binaries (Dockerfile), a local cluster (docker-compose.yml: Redis, MinIO,
// DynamoDB Local, a coordinator and scalable workers) and the scripts that
// install the integration tests' servers (local/). It has no Go code of its
// own; its test loads the compose file with the compose-spec library and
// checks every service's command and environment against the flags and
// variables the built binaries really accept, so the file cannot drift
// from the code unnoticed.
package deploy
