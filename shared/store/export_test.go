package store

// Internal functions the external tests call.
var (
	ConfigFromEnv = configFromEnv
	OpenWithEnv   = open
)

// SetPageSizes lowers the keys per list page and per delete batch.
func SetPageSizes(s *S3, listPage int32, deleteBatch int) {
	s.listPage, s.deleteBatch = listPage, deleteBatch
}
