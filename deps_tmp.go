package main
import (
 _ "github.com/hibiken/asynq"
 _ "github.com/redis/go-redis/v9"
 _ "github.com/alicebob/miniredis/v2"
 _ "github.com/apache/arrow-go/v18/arrow/ipc"
 _ "github.com/apache/arrow-go/v18/arrow/memory"
 _ "github.com/aws/aws-sdk-go-v2/config"
 _ "github.com/aws/aws-sdk-go-v2/service/s3"
 _ "github.com/aws/aws-sdk-go-v2/feature/s3/manager"
 _ "github.com/aws/aws-sdk-go-v2/service/dynamodb"
 _ "github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
 _ "gonum.org/v1/gonum/mat"
 _ "golang.org/x/sync/errgroup"
 _ "golang.org/x/term"
)
func main(){}
