package runstore

import "fmt"

// Keys is the key layout of one run, the only place it is written down.
// Arrow blocks (.arrow) carry a checksum trailer (blocks.Seal). Every key is derived from (run, stage,
// side, iteration, block), so a task that runs twice writes the same key.
//
//	runs/<run>/plan.json
//	runs/<run>/prepare/{layout.json,report.json,users.arrow,books.arrow,catalog.arrow}
//	runs/<run>/prepare/ratings/<side>/<block>.arrow   training ratings, CSR by side
//	runs/<run>/prepare/test/<block>.arrow             test ratings, CSR by user
//	runs/<run>/als/<iteration>/<side>/<block>.arrow   factors after a half-iteration
//	runs/<run>/similarity/{catalog.arrow,factors.arrow,layout.json}
//	runs/<run>/similarity/pairs/<i>-<j>/<block>.arrow  partial top lists of a block from group pair (i, j)
//	runs/<run>/similarity/paired/<i>-<j>               group pair (i, j) has written all its partial lists
//	runs/<run>/similarity/topk/<block>.arrow
//	runs/<run>/load/<block>.json                      what a load task wrote
//	runs/<run>/load/committed.json                    the load was committed to the target
//	runs/<run>/report.json
type Keys string

// RunKeys returns the layout for run.
func RunKeys(run string) Keys { return Keys(RunsPrefix + run + "/") }

// RunsPrefix starts every run's keys.
const RunsPrefix = "runs/"

// Prefix is the prefix of every key of the run.
func (k Keys) Prefix() string { return string(k) }

func (k Keys) Plan() string          { return string(k) + "plan.json" }
func (k Keys) Report() string        { return string(k) + "report.json" }
func (k Keys) Layout() string        { return string(k) + "prepare/layout.json" }
func (k Keys) PrepareReport() string { return string(k) + "prepare/report.json" }
func (k Keys) Users() string         { return string(k) + "prepare/users.arrow" }
func (k Keys) Books() string         { return string(k) + "prepare/books.arrow" }
func (k Keys) Metadata() string      { return string(k) + "prepare/catalog.arrow" }
func (k Keys) Metrics() string       { return string(k) + "als/metrics.json" }

// RatingsPrefix is the prefix of the training rating blocks of side.
func (k Keys) RatingsPrefix(side string) string { return string(k) + "prepare/ratings/" + side + "/" }

// Ratings is training rating block b of side.
func (k Keys) Ratings(side string, b int) string {
	return fmt.Sprintf("%s%05d.arrow", k.RatingsPrefix(side), b)
}

// TestPrefix is the prefix of the test rating blocks.
func (k Keys) TestPrefix() string { return string(k) + "prepare/test/" }

// Test is test rating block b (CSR by user).
func (k Keys) Test(b int) string { return fmt.Sprintf("%s%05d.arrow", k.TestPrefix(), b) }

// FactorsPrefix is the prefix of the factor blocks of side after iteration.
func (k Keys) FactorsPrefix(iteration int, side string) string {
	return fmt.Sprintf("%sals/%03d/%s/", k, iteration, side)
}

// Factors is factor block b of side after iteration.
func (k Keys) Factors(iteration int, side string, b int) string {
	return fmt.Sprintf("%s%05d.arrow", k.FactorsPrefix(iteration, side), b)
}

func (k Keys) Catalog() string        { return string(k) + "similarity/catalog.arrow" }
func (k Keys) CatalogFactors() string { return string(k) + "similarity/factors.arrow" }
func (k Keys) CatalogLayout() string  { return string(k) + "similarity/layout.json" }
func (k Keys) TopKPrefix() string     { return string(k) + "similarity/topk/" }

// PairPrefix is the prefix of the partial top lists of group pair (i, j).
func (k Keys) PairPrefix(i, j int) string {
	return fmt.Sprintf("%ssimilarity/pairs/%04d-%04d/", k, i, j)
}

// Pair is the partial top lists of catalogue block b from group pair (i, j).
func (k Keys) Pair(i, j, b int) string { return fmt.Sprintf("%s%05d.arrow", k.PairPrefix(i, j), b) }

// PairedPrefix is the prefix of the markers of finished group pairs.
func (k Keys) PairedPrefix() string { return string(k) + "similarity/paired/" }

// Paired marks group pair (i, j) done: every partial list it writes exists.
func (k Keys) Paired(i, j int) string { return fmt.Sprintf("%s%04d-%04d", k.PairedPrefix(), i, j) }
func (k Keys) TopK(b int) string      { return fmt.Sprintf("%s%05d.arrow", k.TopKPrefix(), b) }
func (k Keys) LoadPrefix() string     { return string(k) + "load/" }
func (k Keys) Load(b int) string      { return fmt.Sprintf("%s%05d.json", k.LoadPrefix(), b) }
func (k Keys) Committed() string      { return string(k) + "load/committed.json" }
