package main

// A file as the API shows it, in one place (appendFileJSON): the files API,
// share links, drops, file requests and webhook events all write it so.

import "strconv"

// fileJSON is a File as the API shows it (appendFileJSON), for encoding/json.
type fileJSON struct{ file *File }

// toFileJSON wraps f for a JSON response.
func toFileJSON(f *File) fileJSON { return fileJSON{f} }

// MarshalJSON writes the file as appendFileJSON does.
func (v fileJSON) MarshalJSON() ([]byte, error) { return appendFileJSON(nil, v.file), nil }

// appendFileJSON appends f as the API shows a File, the one place that
// says so: {"id", "filename", "size", "content_type", "status",
// "created_at", "completed_at"} and, for a file sent through a file
// request, "request_id", "sender_name" and "sender_note", with the bytes encoding/json would write
// for those fields (TestFileJSONMatchesEncodingJSON). Until completion, the
// size is the declared one. A list appends a page of them into one buffer,
// with no reflection and no allocation per file.
func appendFileJSON(b []byte, f *File) []byte {
	size := f.Size
	if size == nil {
		size = f.DeclaredSize
	}
	b = append(b, `{"id":`...)
	b = appendJSONString(b, f.ID)
	b = append(b, `,"filename":`...)
	b = appendJSONString(b, f.Filename)
	b = append(b, `,"size":`...)
	if size == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *size, 10)
	}
	b = append(b, `,"content_type":`...)
	b = appendJSONString(b, f.ContentType)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, f.Status)
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, &f.CreatedAt)
	b = append(b, `,"completed_at":`...)
	b = appendJSONTime(b, f.CompletedAt)
	// Only a file sent through a file request (requests.go) has these.
	b = appendOptionalJSONString(b, `,"request_id":`, f.RequestID)
	b = appendOptionalJSONString(b, `,"sender_name":`, f.SenderName)
	b = appendOptionalJSONString(b, `,"sender_note":`, f.SenderNote)
	return append(b, '}')
}
