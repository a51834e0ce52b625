-- A sqlsmith query (seed 1, query ~800) whose planning overflowed a 2 MiB worker stack: the
-- process aborted. Kept as found; lakegate must answer it (an error) and stay up.
select  
  subq_0.c3 as c0, 
  subq_0.c1 as c1, 
  subq_0.c4 as c2, 
  subq_0.c1 as c3, 
  subq_0.c2 as c4
from 
  (select  
        sample_0.typnotnull as c0, 
        sample_0.typbyval as c1, 
        sample_0.typnotnull as c2, 
        sample_0.typowner as c3, 
        sample_0.typinput as c4
      from 
        pg_catalog.pg_type as sample_0 tablesample system (7) 
      where pg_catalog.bpcharin(
          cast(cast(null as cstring) as cstring),
          cast(cast(null as oid) as oid),
          cast(sample_0.typsend as int4)) < cast(null as bpchar)
      limit 94) as subq_0
where cast(null as macaddr8) <= case when pg_catalog.pg_database_size(
        cast(cast(null as oid) as oid)) is not NULL then case when (((select prsstart from pg_catalog.pg_ts_parser limit 1 offset 5)
               is NULL) 
          or (cast(null as oidvector) < cast(null as oidvector))) 
        and ((select enumsortorder from pg_catalog.pg_enum limit 1 offset 4)
             = (select pg_catalog.sum(procost) from pg_catalog.pg_proc)
            ) then pg_catalog.macaddr8_in(
        cast(cast(coalesce(case when cast(null as box) &<| cast(null as box) then cast(null as cstring) else cast(null as cstring) end
            ,
          case when EXISTS (
              select  
                  sample_1.pubdelete as c0
                from 
                  pg_catalog.pg_publication as sample_1 tablesample bernoulli (2.7) 
                where EXISTS (
                  select  
                      subq_0.c0 as c0, 
                      subq_0.c1 as c1, 
                      sample_1.pubtruncate as c2, 
                      subq_0.c0 as c3, 
                      sample_1.pubinsert as c4, 
                      sample_2.rolinherit as c5, 
                      subq_0.c3 as c6, 
                      subq_0.c3 as c7, 
                      sample_1.pubtruncate as c8, 
                      sample_2.rolconnlimit as c9, 
                      sample_1.puballtables as c10, 
                      subq_0.c4 as c11, 
                      sample_2.rolbypassrls as c12, 
                      sample_1.pubowner as c13, 
                      sample_2.rolconfig as c14, 
                      sample_2.rolsuper as c15
                    from 
                      pg_catalog.pg_roles as sample_2 tablesample system (1.7) 
                    where (cast(null as timestamp) = sample_2.rolvaliduntil) 
                      and ((cast(null as name) = cast(null as text)) 
                        and ((true) 
                          or ((cast(null as polygon) @> cast(null as polygon)) 
                            and (((EXISTS (
                                  select  
                                      97 as c0, 
                                      sample_2.rolname as c1, 
                                      (select opcnamespace from pg_catalog.pg_opclass limit 1 offset 6)
                                         as c2, 
                                      subq_0.c1 as c3, 
                                      sample_1.pubowner as c4
                                    from 
                                      pg_catalog.pg_amop as sample_3 tablesample bernoulli (1.3) 
                                    where (((sample_2.rolvaliduntil < (select pg_catalog.min(event_date) from silver.watch_events)
                                              ) 
                                          and (cast(null as timestamp) <> cast(null as timestamp))) 
                                        or (false)) 
                                      or (EXISTS (
                                        select  
                                            subq_0.c0 as c0, 
                                            sample_2.rolbypassrls as c1, 
                                            subq_0.c4 as c2, 
                                            sample_1.pubname as c3
                                          from 
                                            pg_catalog.pg_settings as ref_0
                                          where (false) 
                                            and (cast(null as name) < cast(null as name))
                                          limit 118)))) 
                                and (sample_2.rolconfig is NULL)) 
                              and (cast(null as timestamp) >= cast(null as timestamp)))))))
                limit 100) then cast(null as cstring) else cast(null as cstring) end
            ) as cstring) as cstring)) else pg_catalog.macaddr8_in(
        cast(cast(coalesce(case when cast(null as box) &<| cast(null as box) then cast(null as cstring) else cast(null as cstring) end
            ,
          case when EXISTS (
              select  
                  sample_1.pubdelete as c0
                from 
                  pg_catalog.pg_publication as sample_1 tablesample bernoulli (2.7) 
                where EXISTS (
                  select  
                      subq_0.c0 as c0, 
                      subq_0.c1 as c1, 
                      sample_1.pubtruncate as c2, 
                      subq_0.c0 as c3, 
                      sample_1.pubinsert as c4, 
                      sample_2.rolinherit as c5, 
                      subq_0.c3 as c6, 
                      subq_0.c3 as c7, 
                      sample_1.pubtruncate as c8, 
                      sample_2.rolconnlimit as c9, 
                      sample_1.puballtables as c10, 
                      subq_0.c4 as c11, 
                      sample_2.rolbypassrls as c12, 
                      sample_1.pubowner as c13, 
                      sample_2.rolconfig as c14, 
                      sample_2.rolsuper as c15
                    from 
                      pg_catalog.pg_roles as sample_2 tablesample system (1.7) 
                    where (cast(null as timestamp) = sample_2.rolvaliduntil) 
                      and ((cast(null as name) = cast(null as text)) 
                        and ((true) 
                          or ((cast(null as polygon) @> cast(null as polygon)) 
                            and (((EXISTS (
                                  select  
                                      97 as c0, 
                                      sample_2.rolname as c1, 
                                      (select opcnamespace from pg_catalog.pg_opclass limit 1 offset 6)
                                         as c2, 
                                      subq_0.c1 as c3, 
                                      sample_1.pubowner as c4
                                    from 
                                      pg_catalog.pg_amop as sample_3 tablesample bernoulli (1.3) 
                                    where (((sample_2.rolvaliduntil < (select pg_catalog.min(event_date) from silver.watch_events)
                                              ) 
                                          and (cast(null as timestamp) <> cast(null as timestamp))) 
                                        or (false)) 
                                      or (EXISTS (
                                        select  
                                            subq_0.c0 as c0, 
                                            sample_2.rolbypassrls as c1, 
                                            subq_0.c4 as c2, 
                                            sample_1.pubname as c3
                                          from 
                                            pg_catalog.pg_settings as ref_0
                                          where (false) 
                                            and (cast(null as name) < cast(null as name))
                                          limit 118)))) 
                                and (sample_2.rolconfig is NULL)) 
                              and (cast(null as timestamp) >= cast(null as timestamp)))))))
                limit 100) then cast(null as cstring) else cast(null as cstring) end
            ) as cstring) as cstring)) end
       else case when (((select prsstart from pg_catalog.pg_ts_parser limit 1 offset 5)
               is NULL) 
          or (cast(null as oidvector) < cast(null as oidvector))) 
        and ((select enumsortorder from pg_catalog.pg_enum limit 1 offset 4)
             = (select pg_catalog.sum(procost) from pg_catalog.pg_proc)
            ) then pg_catalog.macaddr8_in(
        cast(cast(coalesce(case when cast(null as box) &<| cast(null as box) then cast(null as cstring) else cast(null as cstring) end
            ,
          case when EXISTS (
              select  
                  sample_1.pubdelete as c0
                from 
                  pg_catalog.pg_publication as sample_1 tablesample bernoulli (2.7) 
                where EXISTS (
                  select  
                      subq_0.c0 as c0, 
                      subq_0.c1 as c1, 
                      sample_1.pubtruncate as c2, 
                      subq_0.c0 as c3, 
                      sample_1.pubinsert as c4, 
                      sample_2.rolinherit as c5, 
                      subq_0.c3 as c6, 
                      subq_0.c3 as c7, 
                      sample_1.pubtruncate as c8, 
                      sample_2.rolconnlimit as c9, 
                      sample_1.puballtables as c10, 
                      subq_0.c4 as c11, 
                      sample_2.rolbypassrls as c12, 
                      sample_1.pubowner as c13, 
                      sample_2.rolconfig as c14, 
                      sample_2.rolsuper as c15
                    from 
                      pg_catalog.pg_roles as sample_2 tablesample system (1.7) 
                    where (cast(null as timestamp) = sample_2.rolvaliduntil) 
                      and ((cast(null as name) = cast(null as text)) 
                        and ((true) 
                          or ((cast(null as polygon) @> cast(null as polygon)) 
                            and (((EXISTS (
                                  select  
                                      97 as c0, 
                                      sample_2.rolname as c1, 
                                      (select opcnamespace from pg_catalog.pg_opclass limit 1 offset 6)
                                         as c2, 
                                      subq_0.c1 as c3, 
                                      sample_1.pubowner as c4
                                    from 
                                      pg_catalog.pg_amop as sample_3 tablesample bernoulli (1.3) 
                                    where (((sample_2.rolvaliduntil < (select pg_catalog.min(event_date) from silver.watch_events)
                                              ) 
                                          and (cast(null as timestamp) <> cast(null as timestamp))) 
                                        or (false)) 
                                      or (EXISTS (
                                        select  
                                            subq_0.c0 as c0, 
                                            sample_2.rolbypassrls as c1, 
                                            subq_0.c4 as c2, 
                                            sample_1.pubname as c3
                                          from 
                                            pg_catalog.pg_settings as ref_0
                                          where (false) 
                                            and (cast(null as name) < cast(null as name))
                                          limit 118)))) 
                                and (sample_2.rolconfig is NULL)) 
                              and (cast(null as timestamp) >= cast(null as timestamp)))))))
                limit 100) then cast(null as cstring) else cast(null as cstring) end
            ) as cstring) as cstring)) else pg_catalog.macaddr8_in(
        cast(cast(coalesce(case when cast(null as box) &<| cast(null as box) then cast(null as cstring) else cast(null as cstring) end
            ,
          case when EXISTS (
              select  
                  sample_1.pubdelete as c0
                from 
                  pg_catalog.pg_publication as sample_1 tablesample bernoulli (2.7) 
                where EXISTS (
                  select  
                      subq_0.c0 as c0, 
                      subq_0.c1 as c1, 
                      sample_1.pubtruncate as c2, 
                      subq_0.c0 as c3, 
                      sample_1.pubinsert as c4, 
                      sample_2.rolinherit as c5, 
                      subq_0.c3 as c6, 
                      subq_0.c3 as c7, 
                      sample_1.pubtruncate as c8, 
                      sample_2.rolconnlimit as c9, 
                      sample_1.puballtables as c10, 
                      subq_0.c4 as c11, 
                      sample_2.rolbypassrls as c12, 
                      sample_1.pubowner as c13, 
                      sample_2.rolconfig as c14, 
                      sample_2.rolsuper as c15
                    from 
                      pg_catalog.pg_roles as sample_2 tablesample system (1.7) 
                    where (cast(null as timestamp) = sample_2.rolvaliduntil) 
                      and ((cast(null as name) = cast(null as text)) 
                        and ((true) 
                          or ((cast(null as polygon) @> cast(null as polygon)) 
                            and (((EXISTS (
                                  select  
                                      97 as c0, 
                                      sample_2.rolname as c1, 
                                      (select opcnamespace from pg_catalog.pg_opclass limit 1 offset 6)
                                         as c2, 
                                      subq_0.c1 as c3, 
                                      sample_1.pubowner as c4
                                    from 
                                      pg_catalog.pg_amop as sample_3 tablesample bernoulli (1.3) 
                                    where (((sample_2.rolvaliduntil < (select pg_catalog.min(event_date) from silver.watch_events)
                                              ) 
                                          and (cast(null as timestamp) <> cast(null as timestamp))) 
                                        or (false)) 
                                      or (EXISTS (
                                        select  
                                            subq_0.c0 as c0, 
                                            sample_2.rolbypassrls as c1, 
                                            subq_0.c4 as c2, 
                                            sample_1.pubname as c3
                                          from 
                                            pg_catalog.pg_settings as ref_0
                                          where (false) 
                                            and (cast(null as name) < cast(null as name))
                                          limit 118)))) 
                                and (sample_2.rolconfig is NULL)) 
                              and (cast(null as timestamp) >= cast(null as timestamp)))))))
                limit 100) then cast(null as cstring) else cast(null as cstring) end
            ) as cstring) as cstring)) end
       end
    ;
