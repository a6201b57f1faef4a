module dropp/client

go 1.26.0
