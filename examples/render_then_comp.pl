#!/usr/bin/perl
# A Perl submit script: a render job and a comp job in one submission, chained by a perl callback.
#
#     qbtrigger check examples/render_then_comp.pl
#     qbtrigger simulate examples/render_then_comp.pl -- 1-20
#
# comp is submitted blocked, with a perl-language callback that unblocks it when render completes
# ($qb::jobid is the job that owns the callback). The frame range is the script's first argument
# (default 1-10). Expect: render's frames, then "comp released" in the callback log, then comp's.

use strict;
use warnings;
use lib "$ENV{QBDIR}/api/perl";
use qb;

my $range = shift(@ARGV) || "1-10";

my $render = {
    name      => "render",
    label     => "render",
    prototype => "cmdrange",
    cpus      => "2",    # Qube's Perl examples give numbers as strings; the farm takes them
    package   => { cmdline => "render -frame QB_FRAME_NUMBER shot.scene" },
    agenda    => qb::genframes($range),
};

my $comp = {
    name      => "comp",
    label     => "comp",
    prototype => "cmdrange",
    status    => "blocked",
    package   => { cmdline => "comp -frame QB_FRAME_NUMBER shot.comp" },
    agenda    => qb::genframes($range),
    callbacks => [
        {
            triggers => "complete-job-render",
            language => "perl",
            code     => 'qb::unblock($qb::jobid); print "comp released\n";',
        },
    ],
};

for my $job (qb::submit($render, $comp)) {
    printf "submitted %s: job %d\n", $job->{label}, $job->{id};
}
