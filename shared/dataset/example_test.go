package dataset_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/betterread/pipeline/shared/dataset"
)

func ExampleReadRatings() {
	in := "User-ID,ISBN,Book-Rating\n" +
		"1,000000001X,0\n" +
		"2,0000000028,5\n" +
		"3,0000000036,11\n"
	explicit := 0
	rep, err := dataset.ReadRatings(context.Background(), strings.NewReader(in), "Ratings.csv", func(r dataset.Rating) error {
		if r.Value > 0 {
			explicit++
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Dialect, rep.Rows, rep.Accepted, explicit, rep.Dropped)
	fmt.Println(rep.Examples[0].Error())
	// Output:
	// kaggle 3 2 1 map[rating_out_of_range:1]
	// Ratings.csv:4: column Book-Rating: rating_out_of_range: "11"
}

func ExampleGroupOf() {
	g, ok := dataset.GroupOf("Group 007 Press")
	fmt.Println(g, ok)
	// Output: 7 true
}
