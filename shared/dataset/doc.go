// Package dataset reads the two Book-Crossing CSV files (Books.csv and
// Ratings.csv) as streams and generates synthetic files of the same shape.
//
// # Dialects
//
// The dialect is detected from the header line, so callers never name it:
//
//	kaggle   ISBN,Book-Title,...            comma-separated, quoted only when
//	                                        needed ("" escapes), UTF-8 that may
//	                                        hold stray Latin-1 bytes
//	bx-dump  "ISBN";"Book-Title";...        the original BX-CSV-Dump: ';'-
//	                                        separated, every field quoted,
//	                                        Latin-1, \" escapes
//
// A UTF-8 byte order mark is skipped, header names are compared
// case-insensitively after trimming spaces, and "\r\n" line endings are
// accepted. A wrong header or an empty file is a fatal error (see [HeaderError],
// [ErrHeader], [ErrEmpty]); so are I/O errors and cancellation.
//
// # Rows
//
// Each physical line is one record: a quoted field cannot span lines, so an
// unbalanced quote costs one row and never swallows the rows after it. Bad
// rows are dropped and counted by reason in the [Report] (wrong_field_count,
// invalid_quoting, line_too_long, empty_user, empty_isbn, rating_not_numeric,
// rating_out_of_range, year_not_numeric), with the first few as [Issue]
// examples naming file, line and column. Rows that could be read after a
// known quirk was repaired are passed on and counted in Report.Repaired:
//
//	latin1_transcoded  invalid UTF-8 in a kaggle file, read as Windows-1252
//	html_entity        &amp; and friends in a title, author or publisher
//	shifted_row        title and author merged by a \"; in the dump, so every
//	                   later column moved one to the left (re-aligned)
//	year_zero          year 0, kept as 0 (unknown)
//	year_missing       empty year, kept as 0 (unknown)
//	year_out_of_range  a year after MaxYear (e.g. 2050), kept as 0 (unknown)
//
// Every string handed out is valid UTF-8 with surrounding spaces trimmed.
// A rating of 0 is a valid row (implicit feedback; the pipeline drops it
// later). Nothing is de-duplicated: a repeated (user, ISBN) pair or a repeated
// ISBN in Books.csv is passed on as read, and the caller decides.
//
// Records are bounded: a line longer than [Reader.MaxRecord] (1 MiB by
// default) is skipped to its end without being held in memory and counted as
// line_too_long. Apart from that bound, memory does not grow with the file.
//
// # Synthetic data
//
// [Generate] writes a Books.csv and a Ratings.csv with the published shape of
// the real data set ([DefaultGenParams]): heavy-tailed user activity and book
// popularity, books in latent groups that users prefer, 62 % zero ratings and
// rated ISBNs missing from Books.csv. A book's planted group is recoverable
// from its publisher with [GroupOf], which lets tests check that a model found
// the structure.
package dataset
