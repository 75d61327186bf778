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
// A UTF-8 byte order mark is skipped and "\r\n" line endings are accepted.
// Header names are matched ignoring case and everything but letters and
// digits (User-ID, userID, user_id and "User ID" are one name), in any
// order; Books.csv may leave out Image-URL-S, -M and -L (the Book's fields
// are then empty). Unknown or repeated names, a missing column, a first line
// that looks like data (no header), a too-long header or an empty file are
// fatal errors naming the file and the expected columns (see [HeaderError],
// [ErrHeader], [ErrEmpty]); so are I/O errors and cancellation.
//
// # Rows
//
// A record is one line, or several when a quoted field holds line breaks
// (RFC 4180, in both dialects); its Line is the line it starts on. Text
// fields that held line breaks are folded onto one line. A quote that does
// not close cleanly within 32 lines and [Reader.MaxRecord] bytes, into a
// record with as many fields as a row may have, is broken quoting on its
// first line alone: the lines after it are read again as rows, so a stray
// quote costs one row and never swallows the rows after it.
//
// Bad rows are dropped and counted by reason in the [Report]
// (wrong_field_count, invalid_quoting, line_too_long, empty_user,
// empty_isbn, control_character, rating_not_numeric, rating_out_of_range,
// year_not_numeric), with the first few as [Issue] examples naming file,
// line and column. control_character is a C0 control (bytes 0x00–0x1F,
// tab and line breaks included) or DEL inside a user id or ISBN, after
// surrounding white space is trimmed. Rows that could be read after a
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
// ISBN in Books.csv is passed on as read, and the caller decides;
// [Duplicates] counts the repeated and conflicting pairs for it.
//
// Records are bounded: a line longer than [Reader.MaxRecord] (1 MiB by
// default) is skipped to its end without being held in memory and counted as
// line_too_long. Apart from that bound (a few times it while a record joined
// across lines is read), memory does not grow with the file.
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
