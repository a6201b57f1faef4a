
-- Appended by build.sh. With documentdb.alternate_index_handler_name = 'extended_rum', DocumentDB v0.106 builds every
-- single-path and composite index with this access method, unique ones too (GetIndexAmHandlerByName in
-- pg_documentdb/src/commands/create_indexes.c matches a unique single-path index as single-path), but the extension
-- ships no operator class for the exclusion constraint of a unique index. This is the built-in rum one
-- (pg_documentdb/sql/schema/unique_shard_path_operator_class--0.24-0.sql) for this access method.
CREATE OPERATOR CLASS documentdb_extended_rum_catalog.bson_extended_rum_unique_shard_path_ops
    FOR TYPE documentdb_core.bson USING documentdb_extended_rum AS
        OPERATOR 1 documentdb_api_internal.=#= (documentdb_core.bson, documentdb_core.bson),
        FUNCTION 1 uuid_cmp(uuid, uuid),
        FUNCTION 2 documentdb_api_internal.gin_bson_unique_shard_extract_value(documentdb_core.bson, internal),
        FUNCTION 3 documentdb_api_internal.gin_bson_unique_shard_extract_query(documentdb_core.bson, internal, int2, internal, internal, internal, internal),
        FUNCTION 4 documentdb_api_internal.gin_bson_unique_shard_consistent(internal, int2, anyelement, int4, internal, internal),
        FUNCTION 7 (documentdb_core.bson) documentdb_api_internal.gin_bson_unique_shard_pre_consistent(internal, smallint, documentdb_core.bson, int, internal, internal, internal, internal),
    STORAGE uuid;
